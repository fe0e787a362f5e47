"""What the status says: conditions, their merge, and the autoscaling and monitoring
parts of the status. Pure."""
