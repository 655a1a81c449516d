"""train: LLaMA pretraining, the 16K long-context stage and instruction tuning (issue 6).

Modules: ``config`` (TrainConfig + model registry), ``model`` (LlamaConfig / LlamaForCausalLM,
FLOPs, device peaks), ``data`` (token windows), ``sft`` (chat template + masking), ``train`` (the
loop), ``checkpoint`` (DCP + HF export), ``ppl_by_length``, ``cli``. See docs/train.md.
"""
