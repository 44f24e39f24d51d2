"""Actor Trainer: train, track and validate LoRA models of recurring characters."""

__version__ = "0.1.0"
APP_NAME = "Actor Trainer"
APP_ID = "actor-trainer"
