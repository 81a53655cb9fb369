"""Real ViT image classifiers with random weights and the 196 Stanford Cars
labels, saved as a Hub model is, so that the local recognizer loads them through
the same code as a Hub id. The tests and the load test use the tiny one."""

from __future__ import annotations

from pathlib import Path

LABELS_FILE = Path(__file__).parents[1] / "tests" / "stanford_cars_classes.txt"


def save_tiny_vit(folder: Path) -> None:
    """Two layers of width 32: recognitions cost little, so what is measured or
    tested is the server, not the model."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    labels = LABELS_FILE.read_text().splitlines()
    assert len(labels) == 196
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=224,
        patch_size=16,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(7)
    model = ViTForImageClassification(config)
    with torch.no_grad():  # spread the logits, so the top-k has a clear order
        classifier = model.classifier
        assert isinstance(classifier, torch.nn.Linear)
        classifier.weight.normal_(0, 1.0)
    model.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(folder)
