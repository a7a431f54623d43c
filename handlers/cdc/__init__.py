"""The CDC pattern's functions: a table's stream → FIFO queue (capture), the queue → a
rate-limited third party on schedules (trickle)."""
