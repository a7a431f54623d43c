"""The partner jobs pattern's functions: intake (POST /jobs), query (GET /jobs/{id}) and results
(the response queue → the job's status)."""
