"""Fine-tuning: the paper's downstream tasks from a recipe (multiple choice, classification, generation)."""
