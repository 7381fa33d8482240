"""The BERT family (n2r/models/bert.py), offline."""
import torch

from n2r.config import ModelConfig
from n2r.models import build_rationalizer


def test_bert_rationalizer_forward_backward_offline():
    from n2r.batch import collate_text_table
    from n2r.config import TrainConfig
    from n2r.data.schema import text_table
    from n2r.data.tokenize import HFTokenizer
    from n2r.engine import build_optimizer

    hf = HFTokenizer()
    tokenizer = hf.tokenizer
    rows = [{"tokens": ["a", "wonderful", "unbelievably", "hoppy", "beer"], "label": 1, "rationale": [0, 1, 1, 0, 0]},
            {"tokens": ["flat"], "label": 0, "rationale": [1]}]
    encoded = hf(text_table([{"id": str(i), "split": "train", **r} for i, r in enumerate(rows)]))
    # word → sub-word alignment: every piece of a rationale word carries its bit, specials are not units
    first = encoded.to_pylist()[0]
    pieces = tokenizer.convert_ids_to_tokens(first["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert first["unit_mask"][0] == first["unit_mask"][-1] == 0
    marked = [p for p, r in zip(pieces, first["rationale"]) if r]
    assert "wonderful" in marked and len(marked) >= 2 and "hoppy" not in marked
    batch = collate_text_table(encoded, pad_id=tokenizer.pad_token_id)
    assert batch.unit_mask[1].tolist() == [False, True, False] + [False] * (batch.input_ids.shape[1] - 3)
    torch.manual_seed(0)
    model = build_rationalizer(ModelConfig(encoder="bert", pooling="mean"))
    assert model.generator.encoder is not model.predictor.encoder
    model.train()
    out = model(batch)
    assert out.z.shape == batch.input_ids.shape
    assert (out.z[~batch.unit_mask] == 0).all()
    assert out.h.shape == (2, 384)
    torch.nn.functional.cross_entropy(out.logits, batch.labels).backward()
    assert model.generator.head.weight.grad is not None      # straight-through reached the generator
    assert model.predictor.classifier.weight.grad is not None
    opt = build_optimizer(model, TrainConfig(lr=1e-3, lr_encoder=2e-5, predictor_lr_scale=0.5))
    rates = {(name.split(".")[0], "encoder." in name): group["lr"] for name, p in model.named_parameters()
             for group in opt.param_groups if any(p is q for q in group["params"])}
    assert rates == {("generator", True): 2e-5, ("generator", False): 1e-3,      # pretrained weights: lr_encoder
                     ("predictor", True): 1e-5, ("predictor", False): 5e-4}      # the predictor's: × 0.5 (DR)
