"""ipcoord: inter-agency coordination against IP infringement."""
