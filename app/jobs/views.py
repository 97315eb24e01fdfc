"""Job status screen: progress bar of a background job of the current county."""
