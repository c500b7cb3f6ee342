"""One module per guest kind (docs/abi.md); `base` holds what they share."""
