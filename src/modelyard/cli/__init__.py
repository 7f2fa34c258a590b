"""The command line: ``modelyard <resource> <verb>``, a thin shell over the SDK."""
