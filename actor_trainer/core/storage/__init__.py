"""Remote storage of training data and LoRAs: one interface, an S3 and a local-folder backend."""
