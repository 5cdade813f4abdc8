"""Fine-tuning: the paper's downstream tasks (multiple choice, classification, generation)."""
