"""What every ipcoord service shares: settings, topics, codec, Kafka, gRPC server, identity."""
