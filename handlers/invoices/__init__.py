"""The orchestration pattern's functions: invoices through one Step Functions execution each."""
