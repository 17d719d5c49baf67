"""Speech: voice-activity endpointing, ASR (faster-whisper), intents and slots."""
