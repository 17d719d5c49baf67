"""Non-call channels: SMS over SMPP (texts, receipts, replies), later letters and the evidence bundle."""
