"""Real ViT image classifiers with random weights and the 196 Stanford Cars
labels, saved as a Hub model is, so that the local recognizer loads them through
the same code as a Hub id. The tests and the load test use the tiny one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LABELS_FILE = Path(__file__).parent / "stanford_cars_classes.txt"


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


# Words the tiny CLIP's tokenizer is trained on: every word of the catalog and
# of the prompts, so that no prompt falls apart into single bytes.
def _in_fixed_order(bpe: Any) -> Any:
    """The trained tokenizer with its tokens numbered, and its merges ranked, in
    a fixed order. The trainer does both in hash order, which changes from run
    to run, and so did every prompt's token ids and text embedding: a test on
    scores of the tiny CLIP passed or failed by chance."""
    from tokenizers import Tokenizer

    state = json.loads(bpe.to_str())
    specials = [t["content"] for t in sorted(state["added_tokens"], key=lambda t: t["id"])]
    rest = sorted(set(state["model"]["vocab"]) - set(specials), key=lambda t: (len(t), t))
    ids = {token: i for i, token in enumerate([*specials, *rest])}
    state["model"]["vocab"] = ids
    for added in state["added_tokens"]:
        added["id"] = ids[added["content"]]
    merges = [m.split(" ", 1) if isinstance(m, str) else m for m in state["model"]["merges"]]
    # Shorter first: a merge's parts are always made before it.
    state["model"]["merges"] = sorted(merges, key=lambda m: (len(m[0]) + len(m[1]), m[0], m[1]))
    return Tokenizer.from_str(json.dumps(state))


def _tokenizer_words() -> list[str]:
    from config import NEGATIVE_PROMPTS
    from recognition.prompts import COLORS, entry_label
    from testkit.catalog import seed_entries

    text = [entry_label(e) for e in seed_entries()]
    text += [*NEGATIVE_PROMPTS, *COLORS, "a photo of a type of car", "this is"]
    return sorted({word for line in text for word in line.lower().split()})


def save_tiny_clip(
    folder: Path,
    *,
    width: int = 32,
    layers: int = 2,
    image_size: int = 224,
    patch_size: int = 32,
    projection: int = 16,
    seed: int = 7,
) -> None:
    """A real CLIP model (text and image towers) with random weights and a
    byte-level BPE tokenizer trained here, saved as a Hub model is: the
    zero-shot backend and transformers' zero-shot-image-classification pipeline
    both load the folder. Larger `width`/`layers` give a model of a real size
    (width 768, 12 layers, patch 32: ViT-B/32's image tower)."""
    import torch
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import (  # type: ignore[attr-defined]  # CLIPTokenizerFast: lazily exported
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizerFast,
    )

    # CLIP's own pipeline (transformers rebuilds it from the vocabulary and
    # merges): lower case, words split off, bytes mapped, "</w>" ending a word.
    bpe = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"), "removed", invert=True
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=1200,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
    )
    # Every byte also as a word of its own, so that it exists as a word's end.
    bpe.train_from_iterator([*_tokenizer_words(), *alphabet], trainer=trainer)
    bpe = _in_fixed_order(bpe)
    bos, eos = bpe.token_to_id("<|startoftext|>"), bpe.token_to_id("<|endoftext|>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    tokenizer = CLIPTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=77,
    )
    tower = {
        "hidden_size": width,
        "intermediate_size": width * 4,
        "num_hidden_layers": layers,
        "num_attention_heads": max(2, width // 64),
    }
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": bpe.get_vocab_size(),
            "max_position_embeddings": 77,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": eos,
        },
        vision_config={**tower, "image_size": image_size, "patch_size": patch_size},
        projection_dim=projection,
        logit_scale_init_value=4.6052,  # 100, as trained CLIP models end up
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = CLIPProcessor(image_processor=images, tokenizer=tokenizer)  # type: ignore[no-untyped-call]
    processor.save_pretrained(folder)


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
