"""What a local result proves on AWS: the behaviour suite and the catalogue of known divergences.

``behaviour`` defines one AWS behaviour and its check; ``probe`` the scratch resources a check
creates and removes on a target; ``sqs_fifo`` and ``lambda_errors`` the behaviours; ``suite``
runs them under a time budget; ``divergences`` lists what the embedded target still does
differently, and why it is not fixed.
"""
