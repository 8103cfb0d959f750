"""Lightning callbacks that write pictures during training."""
