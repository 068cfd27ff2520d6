"""The demo scenario's items, generated here (nothing downloaded): small PNG images and
WAV recordings as data URIs, sentences from templates, and for every item the answer a
careful annotator gives, in Label Studio's result format.

Deterministic: item ``n`` of a project is the same on every machine, so the demo's
import is idempotent and the simulated crowd knows each item's answer from its number
(the answer is never in the item's data, which Label Studio shows).
"""

from __future__ import annotations

import base64
import io
import math
import random
import wave
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from annotation import label_configs as lc

# ------------------------------------------------------------------------- the projects

ICH_CLASSES = ("蜡染", "苗绣", "银饰", "芦笙")
TOURISM_CLASSES = ("景点", "美食", "住宿", "交通")
AD_LABELS = ("车辆", "行人", "交通标志")
NER_LABELS = ("症状", "疾病", "药物")


def _image_classification(choices) -> str:
    """Label Studio's classification template, over an image rather than a text."""
    xml = lc.text_classification(choices, data_key="image").xml
    return xml.replace('<Text name="image" value="$image"', '<Image name="image" value="$image"')


@dataclass(frozen=True)
class DemoProject:
    key: str
    name: str
    client: str  # enterprise name (a client in the Guizhou seeds)
    domain: str
    task_type: str
    label_config: str
    items: int
    min_grade: str = "L3"
    required_language: str | None = None


def demo_projects(items: int) -> list[DemoProject]:
    return [
        DemoProject(
            "miao-speech", "黔东南苗语语音转写（演示）", "科大讯飞", "minority_language", "transcription",
            lc.speech_transcription().xml, items, required_language="hms",
        ),
        DemoProject(
            "guian-ad-boxes", "贵安 L4 自动驾驶目标框标注（演示）", "百度智能云", "autonomous_driving",
            "bounding_box", lc.image_bounding_boxes(AD_LABELS).xml, items, min_grade="L4",
        ),
        DemoProject(
            "medical-ner", "电子病历医学实体识别（演示）", "科大讯飞", "medical", "named_entities",
            lc.named_entities(NER_LABELS).xml, items,
        ),
        DemoProject(
            "ich-images", "非遗图像分类（演示）", "百度智能云", "cultural_heritage", "text_classification",
            _image_classification(ICH_CLASSES), items,
        ),
        DemoProject(
            "tourism-text", "贵州旅游评论分类（演示）", "百度智能云", "tourism", "text_classification",
            lc.text_classification(TOURISM_CLASSES).xml, items,
        ),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- media


def _data_uri(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def _png(draw) -> str:
    image = Image.new("RGB", (96, 64), (236, 236, 230))
    draw(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return _data_uri("image/png", out.getvalue())


def _wav(seed: int, seconds: float = 0.8, rate: int = 8000) -> str:
    """A short tone sequence (a stand-in for a recording: nobody needs to hear Miao here)."""
    rng = random.Random(seed)
    tones = [rng.choice((262, 294, 330, 392, 440)) for _ in range(4)]
    frames = bytearray()
    for n in range(int(seconds * rate)):
        tone = tones[n * len(tones) // int(seconds * rate)]
        frames.append(int(128 + 60 * math.sin(2 * math.pi * tone * n / rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return _data_uri("audio/wav", out.getvalue())


# ----------------------------------------------------------------- items and answers

MIAO_PHRASES = (
    "nongx gad 吃饭", "mongl ghab zaid 回家", "hxat hxak 唱歌", "dib niel 打鼓", "ghaib jib 鸡",
    "eb hniut 今天", "bad vud 爷爷", "diangd ghab lix 种田", "gid ghab 路", "nangl ob 下雨",
)  # fmt: skip
SYMPTOMS = ("头痛", "发热", "咳嗽", "腹痛", "胸闷", "乏力")
DISEASES = ("上呼吸道感染", "急性胃炎", "高血压", "支气管炎", "偏头痛")
DRUGS = ("布洛芬", "阿莫西林", "奥美拉唑", "硝苯地平", "对乙酰氨基酚")
TOURISM_TEXTS = {
    "景点": ("黄果树瀑布气势磅礴，值得一去", "西江千户苗寨夜景很美", "梵净山的云海让人难忘"),
    "美食": ("凯里酸汤鱼味道正宗", "花溪牛肉粉分量足", "丝娃娃好吃又便宜"),
    "住宿": ("客栈老板热情，房间干净", "酒店离景区近，早餐丰富", "民宿隔音差，晚上有点吵"),
    "交通": ("高铁到贵阳很方便", "景区大巴班次太少", "机场大巴准时，司机友好"),
}
ICH_COLOURS = {"蜡染": (30, 60, 140), "苗绣": (190, 30, 50), "银饰": (190, 190, 200), "芦笙": (120, 80, 40)}


def _choices(to_name: str, value: str) -> list[dict]:
    return [{"from_name": "label", "to_name": to_name, "type": "choices", "value": {"choices": [value]}}]


def _speech(n: int) -> tuple[dict, list[dict]]:
    phrase = MIAO_PHRASES[n % len(MIAO_PHRASES)]
    answer = [
        {"from_name": "transcription", "to_name": "audio", "type": "textarea", "value": {"text": [phrase]}}
    ]
    return {"audio": _wav(n)}, answer


def _boxes(n: int) -> tuple[dict, list[dict]]:
    rng = random.Random(n)
    label = AD_LABELS[n % len(AD_LABELS)]
    x, y = rng.randint(5, 50), rng.randint(5, 45)
    w, h = rng.randint(20, 40), rng.randint(20, 45)
    colour = {"车辆": (200, 40, 40), "行人": (40, 120, 200), "交通标志": (230, 180, 20)}[label]

    def draw(d):
        d.rectangle([0, 44, 96, 64], fill=(110, 110, 110))
        d.rectangle([x * 96 / 100, y * 64 / 100, (x + w) * 96 / 100, (y + h) * 64 / 100], fill=colour)

    region = {
        "id": f"b{n}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
        "original_width": 96, "original_height": 64, "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
    }  # fmt: skip
    return {"image": _png(draw)}, [region]


def _ner(n: int) -> tuple[dict, list[dict]]:
    symptom, disease, drug = SYMPTOMS[n % 6], DISEASES[n % 5], DRUGS[(n // 5) % 5]
    text = f"患者{n % 60 + 18}岁，主诉{symptom}三天，诊断为{disease}，给予{drug}治疗。"
    regions = []
    for label, word in (("症状", symptom), ("疾病", disease), ("药物", drug)):
        start = text.index(word)
        regions.append(
            {
                "id": f"e{n}{label}",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {"start": start, "end": start + len(word), "text": word, "labels": [label]},
            }  # fmt: skip
        )
    return {"text": text}, regions


def _ich(n: int) -> tuple[dict, list[dict]]:
    label = ICH_CLASSES[n % len(ICH_CLASSES)]
    colour = ICH_COLOURS[label]
    rng = random.Random(n)

    def draw(d):
        for _ in range(6):
            cx, cy, r = rng.randint(5, 90), rng.randint(5, 58), rng.randint(4, 14)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=3)

    return {"image": _png(draw)}, _choices("image", label)


def _tourism(n: int) -> tuple[dict, list[dict]]:
    label = TOURISM_CLASSES[n % len(TOURISM_CLASSES)]
    texts = TOURISM_TEXTS[label]
    return {"text": texts[(n // 4) % len(texts)]}, _choices("text", label)


GENERATORS = {
    "miao-speech": _speech,
    "guian-ad-boxes": _boxes,
    "medical-ner": _ner,
    "ich-images": _ich,
    "tourism-text": _tourism,
}


def item_external_id(key: str, n: int) -> str:
    return f"{key}-{n:05d}"


def item_number(external_id: str) -> tuple[str, int]:
    key, _, number = external_id.rpartition("-")
    return key, int(number)


def demo_item(key: str, n: int, *, gold: bool) -> dict[str, Any]:
    """One item as the import takes it (the API's row format)."""
    data, answer = GENERATORS[key](n)
    row: dict[str, Any] = {"external_id": item_external_id(key, n), "data": data}
    if gold:
        row.update(is_gold=True, gold_answer=answer)
    return row


def demo_answer(key: str, n: int) -> list[dict]:
    """The right answer to item ``n`` of project ``key`` (what a careful annotator gives)."""
    return GENERATORS[key](n)[1]
