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


# The first nine COCO classes, as detection models number them (0 is unused):
# enough for the vehicle kinds and a few that are not vehicles.
COCO_LABELS = ("N/A", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck")


def save_yolos(
    folder: Path,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    detection_tokens: int = 12,
    shortest_edge: int = 128,
    longest_edge: int = 192,
    seed: int = 3,
    labels: tuple[str, ...] = COCO_LABELS,
) -> None:
    """A YOLOS object detector with random weights and COCO-style labels, saved
    as a Hub model is. The defaults make a tiny one for the tests; hustvl/yolos-tiny
    is hidden_size=192, layers=12, heads=3, 100 tokens, 512 to 1333 px.

    Random weights as initialised would put every detection on the same box (the
    detection tokens start equal): they are spread, so that each token finds a
    box of its own, of some kind, with scores across the range."""
    import torch
    from transformers import YolosConfig, YolosForObjectDetection
    from transformers.models.yolos.image_processing_pil_yolos import YolosImageProcessorPil

    config = YolosConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 4,
        image_size=[shortest_edge, longest_edge],
        patch_size=16,
        num_detection_tokens=detection_tokens,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = YolosForObjectDetection(config)
    with torch.no_grad():
        model.vit.embeddings.detection_tokens.normal_(0, 1.0)
        model.vit.embeddings.position_embeddings.normal_(0, 0.5)
        mlps = (model.class_labels_classifier, model.bbox_predictor)
        classes, boxes = ([m for m in h.modules() if isinstance(m, torch.nn.Linear)] for h in mlps)
        for layer in classes + boxes:
            layer.weight.normal_(0, 0.3)
            layer.bias.normal_(0, 0.5)
        classes[-1].weight.normal_(0, 0.5)
        classes[-1].bias.zero_()
        favoured = {"person": 2.0, "car": 1.5, "motorcycle": 2.0, "bus": 2.5, "truck": 2.5}
        for index, label in enumerate(labels):
            classes[-1].bias[index] = favoured.get(label, 0.0)
        # Small box outputs: boxes near the middle, of a fair size, inside the photo.
        boxes[-1].weight.normal_(0, 0.08)
    model.save_pretrained(folder)
    size = {"shortest_edge": shortest_edge, "longest_edge": longest_edge}
    YolosImageProcessorPil(size=size).save_pretrained(folder)
