"""Integration: a real mpirun MPMD job of 2 server(s) x 2 worker(s) on generated data."""
import train_check

train_check.main(2, 2)
