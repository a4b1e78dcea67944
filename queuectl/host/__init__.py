"""What queuectl needs from the machine it runs on: its home directory, process
identity and liveness, and wake-up sockets between processes."""
