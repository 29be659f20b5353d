"""One module per `hrtrack` verb; each exposes `register(subparsers)`."""
