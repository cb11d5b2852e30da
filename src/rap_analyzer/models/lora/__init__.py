"""LoRA fine-tuning of a causal LM turned regressor: `convert` (the offline base model), `data` (text formatting,
target scaling, batches), `train` (model, masked loss, early-stopped loop), `predict` (the saved adapter as a
`Predictor`)."""
