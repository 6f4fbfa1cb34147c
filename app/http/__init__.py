"""What every HTTP endpoint shares before it knows who is calling."""
