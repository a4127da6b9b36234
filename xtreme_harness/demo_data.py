"""Demo data in XTREME's download layout, generated from a small parallel world.

The demo, the tests and first-time users need every task's files without a
download. Real text cannot be shipped, so this module renders the *same*
abstract facts (who lives where, who works for which organisation, who buys
what) in each language from its own word lists and tagged templates. Because
every sentence is a translation of a known fact, the gold labels are exact
(POS tags, entity spans, answer offsets, translation pairs) and zero-shot
transfer from English is learnable even by a tiny model.

``write_demo_data(out_dir)`` writes the folder; ``python -m
xtreme_harness.demo_data OUT`` does the same from the command line.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

from .io.errors import UserError
from .tasks.registry import registry

SUPPORTED_LANGUAGES = ("en", "de", "es", "fr", "ru", "zh", "ar")
DEFAULT_LANGUAGES = ("en", "de", "es", "zh")

# Examples per split: train is English only; dev/test are per language. QA sizes
# count questions, tagging sizes count sentences, BUCC sizes count gold pairs.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"train": 40, "dev": 20, "test": 20},
    "small": {"train": 600, "dev": 80, "test": 100},
}

UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
             "PUNCT", "SCONJ", "SYM", "VERB", "X")
NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
NLI_LABELS = ("entailment", "neutral", "contradiction")

_TYDIQA_NAMES = {"en": "english", "ar": "arabic", "ru": "russian"}

# --- lexicons -------------------------------------------------------------------------------
# Names and cities are chosen so that Russian leaves them undeclined, which keeps one
# surface form per language and makes entity spans identical in every case.

# gender, Latin (en/de/es/fr), ru, zh, ar
_FIRST = [
    ("f", "Ingrid", "Ингрид", "英格丽德", "إنغريد"),
    ("f", "Carmen", "Кармен", "卡门", "كارمن"),
    ("f", "Miriam", "Мириам", "米里亚姆", "ميريام"),
    ("f", "Naomi", "Наоми", "娜奥米", "ناعومي"),
    ("f", "Yuki", "Юки", "由纪", "يوكي"),
    ("f", "Isabel", "Изабель", "伊莎贝尔", "إيزابيل"),
    ("f", "Astrid", "Астрид", "阿斯特丽德", "أستريد"),
    ("f", "Ruth", "Рут", "露丝", "روث"),
    ("m", "Marco", "Марко", "马可", "ماركو"),
    ("m", "Bruno", "Бруно", "布鲁诺", "برونو"),
    ("m", "Pablo", "Пабло", "巴勃罗", "بابلو"),
    ("m", "Hugo", "Уго", "雨果", "هوغو"),
    ("m", "Theo", "Тео", "西奥", "ثيو"),
    ("m", "Ravi", "Рави", "拉维", "رافي"),
    ("m", "Kenji", "Кэндзи", "健二", "كينجي"),
    ("m", "Paolo", "Паоло", "保罗", "باولو"),
]
# Latin, ru, zh, ar
_LAST = [
    ("Rossi", "Росси", "罗西", "روسي"),
    ("Sato", "Сато", "佐藤", "ساتو"),
    ("Conti", "Конти", "孔蒂", "كونتي"),
    ("Moretti", "Моретти", "莫雷蒂", "موريتي"),
    ("Ito", "Ито", "伊藤", "إيتو"),
    ("Romano", "Романо", "罗马诺", "رومانو"),
    ("Esposito", "Эспозито", "埃斯波西托", "إسبوزيتو"),
    ("Ferrari", "Феррари", "费拉里", "فيراري"),
    ("Bianchi", "Бьянки", "比安奇", "بيانكي"),
    ("Okoye", "Окойе", "奥科耶", "أوكويي"),
]
# en, de, es, fr, ru, zh, ar
_CITIES = [
    ("Tokyo", "Tokio", "Tokio", "Tokyo", "Токио", "东京", "طوكيو"),
    ("Oslo", "Oslo", "Oslo", "Oslo", "Осло", "奥斯陆", "أوسلو"),
    ("Toronto", "Toronto", "Toronto", "Toronto", "Торонто", "多伦多", "تورونتو"),
    ("Chicago", "Chicago", "Chicago", "Chicago", "Чикаго", "芝加哥", "شيكاغو"),
    ("Helsinki", "Helsinki", "Helsinki", "Helsinki", "Хельсинки", "赫尔辛基", "هلسنكي"),
    ("Delhi", "Delhi", "Delhi", "Delhi", "Дели", "德里", "دلهي"),
    ("Kyoto", "Kyoto", "Kioto", "Kyoto", "Киото", "京都", "كيوتو"),
    ("Baku", "Baku", "Bakú", "Bakou", "Баку", "巴库", "باكو"),
    ("Tbilisi", "Tiflis", "Tiflis", "Tbilissi", "Тбилиси", "第比利斯", "تبليسي"),
    ("Santiago", "Santiago", "Santiago", "Santiago", "Сантьяго", "圣地亚哥", "سانتياغو"),
    ("Palermo", "Palermo", "Palermo", "Palerme", "Палермо", "巴勒莫", "باليرمو"),
    ("Bilbao", "Bilbao", "Bilbao", "Bilbao", "Бильбао", "毕尔巴鄂", "بلباو"),
    ("Montevideo", "Montevideo", "Montevideo", "Montevideo", "Монтевидео", "蒙得维的亚", "مونتيفيديو"),
    ("Nairobi", "Nairobi", "Nairobi", "Nairobi", "Найроби", "内罗毕", "نيروبي"),
    ("Sapporo", "Sapporo", "Sapporo", "Sapporo", "Саппоро", "札幌", "سابورو"),
    ("Porto", "Porto", "Oporto", "Porto", "Порту", "波尔图", "بورتو"),
]
_LANG_INDEX = {lang: i for i, lang in enumerate(("en", "de", "es", "fr", "ru", "zh", "ar"))}

# Organisation = brand + type. Latin, ru, zh, ar
_BRANDS = [
    ("Orion", "Орион", "奥利安", "أوريون"),
    ("Atlas", "Атлас", "阿特拉斯", "أطلس"),
    ("Vega", "Вега", "维加", "فيغا"),
    ("Nova", "Нова", "诺瓦", "نوفا"),
    ("Polaris", "Поларис", "波拉里斯", "بولاريس"),
    ("Helix", "Хеликс", "赫利克斯", "هيليكس"),
    ("Zenith", "Зенит", "泽尼特", "زينيث"),
    ("Aurora", "Аврора", "奥罗拉", "أورورا"),
    ("Sirius", "Сириус", "西里乌斯", "سيريوس"),
    ("Titan", "Титан", "泰坦", "تيتان"),
    ("Delta", "Дельта", "德尔塔", "دلتا"),
    ("Omega", "Омега", "欧米茄", "أوميغا"),
]
# Per language: (type word, "pre" | "post" the brand). ru gives (nominative, prepositional).
_ORG_TYPES = [
    {"en": ("Bank", "post"), "de": ("Bank", "post"), "es": ("Banco", "pre"), "fr": ("Banque", "pre"),
     "ru": (("банк", "банке"), "pre"), "zh": ("银行", "post"), "ar": ("بنك", "pre")},
    {"en": ("Airlines", "post"), "de": ("Airlines", "post"), "es": ("Aerolíneas", "pre"), "fr": ("Airlines", "post"),
     "ru": (("авиакомпания", "авиакомпании"), "pre"), "zh": ("航空", "post"), "ar": ("طيران", "pre")},
    {"en": ("Group", "post"), "de": ("Gruppe", "post"), "es": ("Grupo", "pre"), "fr": ("Groupe", "pre"),
     "ru": (("группа", "группе"), "pre"), "zh": ("集团", "post"), "ar": ("مجموعة", "pre")},
    {"en": ("University", "post"), "de": ("Universität", "pre"), "es": ("Universidad", "pre"),
     "fr": ("Université", "pre"), "ru": (("университет", "университете"), "pre"), "zh": ("大学", "post"),
     "ar": ("جامعة", "pre")},
]
# Nouns bought in "buys a red car": en word; de/es/fr (word, gender); ru (accusative, gender);
# zh (classifier, noun); ar (accusative indefinite, gender).
_NOUNS = [
    {"en": "car", "de": ("Auto", "n"), "es": ("coche", "m"), "fr": ("voiture", "f"), "ru": ("машину", "f"),
     "zh": ("辆", "汽车"), "ar": ("سيارة", "f")},
    {"en": "book", "de": ("Buch", "n"), "es": ("libro", "m"), "fr": ("livre", "m"), "ru": ("книгу", "f"),
     "zh": ("本", "书"), "ar": ("كتابا", "m")},
    {"en": "bicycle", "de": ("Fahrrad", "n"), "es": ("bicicleta", "f"), "fr": ("vélo", "m"), "ru": ("велосипед", "m"),
     "zh": ("辆", "自行车"), "ar": ("دراجة", "f")},
    {"en": "lamp", "de": ("Lampe", "f"), "es": ("lámpara", "f"), "fr": ("lampe", "f"), "ru": ("лампу", "f"),
     "zh": ("盏", "台灯"), "ar": ("مصباحا", "m")},
    {"en": "table", "de": ("Tisch", "m"), "es": ("mesa", "f"), "fr": ("table", "f"), "ru": ("стол", "m"),
     "zh": ("张", "桌子"), "ar": ("طاولة", "f")},
    {"en": "bag", "de": ("Tasche", "f"), "es": ("bolso", "m"), "fr": ("sac", "m"), "ru": ("сумку", "f"),
     "zh": ("个", "包"), "ar": ("حقيبة", "f")},
    {"en": "hat", "de": ("Hut", "m"), "es": ("sombrero", "m"), "fr": ("chapeau", "m"), "ru": ("шляпу", "f"),
     "zh": ("顶", "帽子"), "ar": ("قبعة", "f")},
    {"en": "cup", "de": ("Tasse", "f"), "es": ("taza", "f"), "fr": ("tasse", "f"), "ru": ("чашку", "f"),
     "zh": ("个", "杯子"), "ar": ("كوبا", "m")},
]
# Colours: en word; de stem; es/fr/ar (masculine, feminine); ru accusative (masculine, feminine); zh word.
_COLOURS = [
    {"en": "red", "de": "rot", "es": ("rojo", "roja"), "fr": ("rouge", "rouge"), "ru": ("красный", "красную"),
     "zh": "红色", "ar": ("أحمر", "حمراء")},
    {"en": "blue", "de": "blau", "es": ("azul", "azul"), "fr": ("bleu", "bleue"), "ru": ("синий", "синюю"),
     "zh": "蓝色", "ar": ("أزرق", "زرقاء")},
    {"en": "green", "de": "grün", "es": ("verde", "verde"), "fr": ("vert", "verte"), "ru": ("зелёный", "зелёную"),
     "zh": "绿色", "ar": ("أخضر", "خضراء")},
    {"en": "black", "de": "schwarz", "es": ("negro", "negra"), "fr": ("noir", "noire"), "ru": ("чёрный", "чёрную"),
     "zh": "黑色", "ar": ("أسود", "سوداء")},
    {"en": "white", "de": "weiß", "es": ("blanco", "blanca"), "fr": ("blanc", "blanche"), "ru": ("белый", "белую"),
     "zh": "白色", "ar": ("أبيض", "بيضاء")},
    {"en": "yellow", "de": "gelb", "es": ("amarillo", "amarilla"), "fr": ("jaune", "jaune"),
     "ru": ("жёлтый", "жёлтую"), "zh": "黄色", "ar": ("أصفر", "صفراء")},
]
# Person-to-person verbs; en (3sg, base); ar (masculine, feminine subject).
_VERBS = [
    {"en": ("helps", "help"), "de": "hilft", "es": "ayuda", "fr": "aide", "ru": "помогает", "zh": "帮助",
     "ar": ("يساعد", "تساعد")},
    {"en": ("thanks", "thank"), "de": "dankt", "es": "agradece", "fr": "remercie", "ru": "благодарит", "zh": "感谢",
     "ar": ("يشكر", "تشكر")},
    {"en": ("welcomes", "welcome"), "de": "empfängt", "es": "recibe", "fr": "accueille", "ru": "встречает",
     "zh": "接待", "ar": ("يستقبل", "تستقبل")},
    {"en": ("accompanies", "accompany"), "de": "begleitet", "es": "acompaña", "fr": "accompagne",
     "ru": "сопровождает", "zh": "陪同", "ar": ("يرافق", "ترافق")},
]
_HELLO = {"en": "hello", "de": "hallo", "es": "hola", "fr": "bonjour", "ru": "привет", "zh": "你好", "ar": "مرحبا"}
_PRICES = (5, 8, 12, 15, 20, 25, 30, 40, 45, 50, 60, 75, 80, 90, 120, 150, 200, 250)

# --- templates ------------------------------------------------------------------------------
# ``word/UPOS`` is a literal, ``m|f/UPOS`` picks by the gender of {p}, ``{slot}`` or
# ``{slot.form}`` is an entity or phrase. Slots: p, p2 (people), c, c2 (cities), o
# (organisation), np (indefinite object), price, v (verb), g (greeting).
_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "live": "{p} lives/VERB in/ADP {c} ./PUNCT",
        "live_neg": "{p} does/AUX not/PART live/VERB in/ADP {c} ./PUNCT",
        "live_now": "{p} now/ADV lives/VERB in/ADP {c} ./PUNCT",
        "work": "{p} works/VERB at/ADP {o} ./PUNCT",
        "work_neg": "{p} does/AUX not/PART work/VERB at/ADP {o} ./PUNCT",
        "live_work": "{p} lives/VERB in/ADP {c} and/CCONJ works/VERB at/ADP {o} ./PUNCT",
        "based": "{o} is/AUX based/VERB in/ADP {c} ./PUNCT",
        "buy": "{p} buys/VERB {np} for/ADP {price} ./PUNCT",
        "buy_plain": "{p} buys/VERB {np} ./PUNCT",
        "act": "{p} {v} {p2} in/ADP {c} ./PUNCT",
        "act_alt": "In/ADP {c} ,/PUNCT {p} {v} {p2} ./PUNCT",
        "act_noloc": "{p} {v} {p2} ./PUNCT",
        "act_neg": "{p} does/AUX not/PART {v.base} {p2} ./PUNCT",
        "move": "{p} moves/VERB from/ADP {c} to/ADP {c2} ./PUNCT",
        "move_alt": "{p} moves/VERB to/ADP {c2} from/ADP {c} ./PUNCT",
        "move_to": "{p} moves/VERB to/ADP {c2} ./PUNCT",
        "say_live": "{p} says/VERB that/SCONJ he|she/PRON lives/VERB in/ADP {c} ./PUNCT",
        "greet": "{p} says/VERB {g} to/ADP {p2} ./PUNCT",
    },
    "de": {
        "live": "{p} wohnt/VERB in/ADP {c} ./PUNCT",
        "live_neg": "{p} wohnt/VERB nicht/PART in/ADP {c} ./PUNCT",
        "live_now": "{p} wohnt/VERB jetzt/ADV in/ADP {c} ./PUNCT",
        "work": "{p} arbeitet/VERB bei/ADP {o} ./PUNCT",
        "work_neg": "{p} arbeitet/VERB nicht/PART bei/ADP {o} ./PUNCT",
        "live_work": "{p} wohnt/VERB in/ADP {c} und/CCONJ arbeitet/VERB bei/ADP {o} ./PUNCT",
        "based": "{o} sitzt/VERB in/ADP {c} ./PUNCT",
        "buy": "{p} kauft/VERB {np} für/ADP {price} ./PUNCT",
        "buy_plain": "{p} kauft/VERB {np} ./PUNCT",
        "act": "{p} {v} {p2} in/ADP {c} ./PUNCT",
        "act_alt": "In/ADP {c} {v} {p} {p2} ./PUNCT",
        "act_noloc": "{p} {v} {p2} ./PUNCT",
        "act_neg": "{p} {v} {p2} nicht/PART ./PUNCT",
        "move": "{p} zieht/VERB von/ADP {c} nach/ADP {c2} ./PUNCT",
        "move_alt": "Von/ADP {c} zieht/VERB {p} nach/ADP {c2} ./PUNCT",
        "move_to": "{p} zieht/VERB nach/ADP {c2} ./PUNCT",
        "say_live": "{p} sagt/VERB ,/PUNCT dass/SCONJ er|sie/PRON in/ADP {c} wohnt/VERB ./PUNCT",
        "greet": "{p} sagt/VERB {g} zu/ADP {p2} ./PUNCT",
    },
    "es": {
        "live": "{p} vive/VERB en/ADP {c} ./PUNCT",
        "live_neg": "{p} no/ADV vive/VERB en/ADP {c} ./PUNCT",
        "live_now": "{p} ahora/ADV vive/VERB en/ADP {c} ./PUNCT",
        "work": "{p} trabaja/VERB en/ADP {o} ./PUNCT",
        "work_neg": "{p} no/ADV trabaja/VERB en/ADP {o} ./PUNCT",
        "live_work": "{p} vive/VERB en/ADP {c} y/CCONJ trabaja/VERB en/ADP {o} ./PUNCT",
        "based": "{o} tiene/VERB su/DET sede/NOUN en/ADP {c} ./PUNCT",
        "buy": "{p} compra/VERB {np} por/ADP {price} ./PUNCT",
        "buy_plain": "{p} compra/VERB {np} ./PUNCT",
        "act": "{p} {v} a/ADP {p2} en/ADP {c} ./PUNCT",
        "act_alt": "En/ADP {c} ,/PUNCT {p} {v} a/ADP {p2} ./PUNCT",
        "act_noloc": "{p} {v} a/ADP {p2} ./PUNCT",
        "act_neg": "{p} no/ADV {v} a/ADP {p2} ./PUNCT",
        "move": "{p} se/PRON muda/VERB de/ADP {c} a/ADP {c2} ./PUNCT",
        "move_alt": "Desde/ADP {c} ,/PUNCT {p} se/PRON muda/VERB a/ADP {c2} ./PUNCT",
        "move_to": "{p} se/PRON muda/VERB a/ADP {c2} ./PUNCT",
        "say_live": "{p} dice/VERB que/SCONJ él|ella/PRON vive/VERB en/ADP {c} ./PUNCT",
        "greet": "{p} le/PRON dice/VERB {g} a/ADP {p2} ./PUNCT",
    },
    "fr": {
        "live": "{p} habite/VERB à/ADP {c} ./PUNCT",
        "live_neg": "{p} ne/ADV habite/VERB pas/ADV à/ADP {c} ./PUNCT",
        "live_now": "{p} habite/VERB maintenant/ADV à/ADP {c} ./PUNCT",
        "work": "{p} travaille/VERB chez/ADP {o} ./PUNCT",
        "work_neg": "{p} ne/ADV travaille/VERB pas/ADV chez/ADP {o} ./PUNCT",
        "live_work": "{p} habite/VERB à/ADP {c} et/CCONJ travaille/VERB chez/ADP {o} ./PUNCT",
        "based": "{o} a/VERB son/DET siège/NOUN à/ADP {c} ./PUNCT",
        "buy": "{p} achète/VERB {np} pour/ADP {price} ./PUNCT",
        "buy_plain": "{p} achète/VERB {np} ./PUNCT",
        "act": "{p} {v} {p2} à/ADP {c} ./PUNCT",
        "act_alt": "À/ADP {c} ,/PUNCT {p} {v} {p2} ./PUNCT",
        "act_noloc": "{p} {v} {p2} ./PUNCT",
        "act_neg": "{p} ne/ADV {v} pas/ADV {p2} ./PUNCT",
        "move": "{p} déménage/VERB de/ADP {c} à/ADP {c2} ./PUNCT",
        "move_alt": "De/ADP {c} ,/PUNCT {p} déménage/VERB à/ADP {c2} ./PUNCT",
        "move_to": "{p} déménage/VERB à/ADP {c2} ./PUNCT",
        "say_live": "{p} dit/VERB que/SCONJ il|elle/PRON habite/VERB à/ADP {c} ./PUNCT",
        "greet": "{p} dit/VERB {g} à/ADP {p2} ./PUNCT",
    },
    "ru": {
        "live": "{p} живёт/VERB в/ADP {c} ./PUNCT",
        "live_neg": "{p} не/PART живёт/VERB в/ADP {c} ./PUNCT",
        "live_now": "{p} теперь/ADV живёт/VERB в/ADP {c} ./PUNCT",
        "work": "{p} работает/VERB в/ADP {o.prep} ./PUNCT",
        "work_neg": "{p} не/PART работает/VERB в/ADP {o.prep} ./PUNCT",
        "live_work": "{p} живёт/VERB в/ADP {c} и/CCONJ работает/VERB в/ADP {o.prep} ./PUNCT",
        "based": "{o} находится/VERB в/ADP {c} ./PUNCT",
        "buy": "{p} покупает/VERB {np} за/ADP {price} ./PUNCT",
        "buy_plain": "{p} покупает/VERB {np} ./PUNCT",
        "act": "{p} {v} {p2} в/ADP {c} ./PUNCT",
        "act_alt": "В/ADP {c} {p} {v} {p2} ./PUNCT",
        "act_noloc": "{p} {v} {p2} ./PUNCT",
        "act_neg": "{p} не/PART {v} {p2} ./PUNCT",
        "move": "{p} переезжает/VERB из/ADP {c} в/ADP {c2} ./PUNCT",
        "move_alt": "Из/ADP {c} {p} переезжает/VERB в/ADP {c2} ./PUNCT",
        "move_to": "{p} переезжает/VERB в/ADP {c2} ./PUNCT",
        "say_live": "{p} говорит/VERB ,/PUNCT что/SCONJ он|она/PRON живёт/VERB в/ADP {c} ./PUNCT",
        "greet": "{p} говорит/VERB {p2} {g} ./PUNCT",
    },
    "zh": {
        "live": "{p} 住/VERB 在/ADP {c} 。/PUNCT",
        "live_neg": "{p} 不/ADV 住/VERB 在/ADP {c} 。/PUNCT",
        "live_now": "{p} 现在/ADV 住/VERB 在/ADP {c} 。/PUNCT",
        "work": "{p} 在/ADP {o} 工作/VERB 。/PUNCT",
        "work_neg": "{p} 不/ADV 在/ADP {o} 工作/VERB 。/PUNCT",
        "live_work": "{p} 住/VERB 在/ADP {c} ，/PUNCT 并/CCONJ 在/ADP {o} 工作/VERB 。/PUNCT",
        "based": "{o} 的/PART 总部/NOUN 在/VERB {c} 。/PUNCT",
        "buy": "{p} 花/VERB {price} 买/VERB 了/AUX {np} 。/PUNCT",
        "buy_plain": "{p} 买/VERB 了/AUX {np} 。/PUNCT",
        "act": "{p} 在/ADP {c} {v} {p2} 。/PUNCT",
        "act_alt": "在/ADP {c} ，/PUNCT {p} {v} {p2} 。/PUNCT",
        "act_noloc": "{p} {v} {p2} 。/PUNCT",
        "act_neg": "{p} 没有/ADV {v} {p2} 。/PUNCT",
        "move": "{p} 从/ADP {c} 搬/VERB 到/VERB {c2} 。/PUNCT",
        "move_alt": "{p} 离开/VERB {c} ，/PUNCT 搬/VERB 到/VERB {c2} 。/PUNCT",
        "move_to": "{p} 搬/VERB 到/VERB {c2} 。/PUNCT",
        "say_live": "{p} 说/VERB 他|她/PRON 住/VERB 在/ADP {c} 。/PUNCT",
        "greet": "{p} 对/ADP {p2} 说/VERB {g} 。/PUNCT",
    },
    "ar": {
        "live": "{p} يعيش|تعيش/VERB في/ADP {c} ./PUNCT",
        "live_neg": "{p} لا/PART يعيش|تعيش/VERB في/ADP {c} ./PUNCT",
        "live_now": "{p} يعيش|تعيش/VERB الآن/ADV في/ADP {c} ./PUNCT",
        "work": "{p} يعمل|تعمل/VERB في/ADP {o} ./PUNCT",
        "work_neg": "{p} لا/PART يعمل|تعمل/VERB في/ADP {o} ./PUNCT",
        "live_work": "{p} يعيش|تعيش/VERB في/ADP {c} ويعمل|وتعمل/VERB في/ADP {o} ./PUNCT",
        "based": "يقع/VERB مقر/NOUN {o} في/ADP {c} ./PUNCT",
        "buy": "{p} يشتري|تشتري/VERB {np} مقابل/ADP {price} ./PUNCT",
        "buy_plain": "{p} يشتري|تشتري/VERB {np} ./PUNCT",
        "act": "{p} {v} {p2} في/ADP {c} ./PUNCT",
        "act_alt": "في/ADP {c} ،/PUNCT {p} {v} {p2} ./PUNCT",
        "act_noloc": "{p} {v} {p2} ./PUNCT",
        "act_neg": "{p} لا/PART {v} {p2} ./PUNCT",
        "move": "{p} ينتقل|تنتقل/VERB من/ADP {c} إلى/ADP {c2} ./PUNCT",
        "move_alt": "من/ADP {c} ،/PUNCT ينتقل|تنتقل/VERB {p} إلى/ADP {c2} ./PUNCT",
        "move_to": "{p} ينتقل|تنتقل/VERB إلى/ADP {c2} ./PUNCT",
        "say_live": "{p} يقول|تقول/VERB إنه|إنها/SCONJ يعيش|تعيش/VERB في/ADP {c} ./PUNCT",
        "greet": "{p} يحيي|تحيي/VERB {p2} قائلا|قائلة/VERB {g} ./PUNCT",
    },
}
SENTENCE_KINDS = tuple(_TEMPLATES["en"])

# Questions (plain strings: only their answers need spans). Same placeholders as templates.
_QUESTIONS: dict[str, dict[str, str]] = {
    "en": {
        "live_where": "Where does {p} live?", "live_who": "Who lives in {c}?",
        "work_where": "Where does {p} work?", "work_who": "Who works at {o}?",
        "based_where": "Where is {o} based?", "buy_what": "What does {p} buy?",
        "buy_price": "How much does {p} pay?", "act_who": "Who {v} {p2}?",
        "act_where": "Where does {p} {v.base} {p2}?", "move_to": "Where does {p} move to?",
        "move_from": "Where does {p} move from?",
    },
    "de": {
        "live_where": "Wo wohnt {p}?", "live_who": "Wer wohnt in {c}?",
        "work_where": "Wo arbeitet {p}?", "work_who": "Wer arbeitet bei {o}?",
        "based_where": "Wo sitzt {o}?", "buy_what": "Was kauft {p}?",
        "buy_price": "Wie viel bezahlt {p}?", "act_who": "Wer {v} {p2}?",
        "act_where": "Wo {v} {p} {p2}?", "move_to": "Wohin zieht {p}?",
        "move_from": "Aus welcher Stadt zieht {p} weg?",
    },
    "es": {
        "live_where": "¿Dónde vive {p}?", "live_who": "¿Quién vive en {c}?",
        "work_where": "¿Dónde trabaja {p}?", "work_who": "¿Quién trabaja en {o}?",
        "based_where": "¿Dónde tiene su sede {o}?", "buy_what": "¿Qué compra {p}?",
        "buy_price": "¿Cuánto paga {p}?", "act_who": "¿Quién {v} a {p2}?",
        "act_where": "¿Dónde {v} {p} a {p2}?", "move_to": "¿Adónde se muda {p}?",
        "move_from": "¿De dónde se muda {p}?",
    },
    "fr": {
        "live_where": "Où habite {p}?", "live_who": "Qui habite à {c}?",
        "work_where": "Où travaille {p}?", "work_who": "Qui travaille chez {o}?",
        "based_where": "Où se trouve le siège de {o}?", "buy_what": "Qu'achète {p}?",
        "buy_price": "Combien paie {p}?", "act_who": "Qui {v} {p2}?",
        "act_where": "Où est-ce que {p} {v} {p2}?", "move_to": "Où est-ce que {p} déménage?",
        "move_from": "D'où est-ce que {p} déménage?",
    },
    "ru": {
        "live_where": "Где живёт {p}?", "live_who": "Кто живёт в {c}?",
        "work_where": "Где работает {p}?", "work_who": "Кто работает в {o.prep}?",
        "based_where": "Где находится {o}?", "buy_what": "Что покупает {p}?",
        "buy_price": "Сколько платит {p}?", "act_who": "Кто {v} {p2}?",
        "act_where": "Где {p} {v} {p2}?", "move_to": "Куда переезжает {p}?",
        "move_from": "Откуда переезжает {p}?",
    },
    "zh": {
        "live_where": "{p}住在哪里？", "live_who": "谁住在{c}？",
        "work_where": "{p}在哪里工作？", "work_who": "谁在{o}工作？",
        "based_where": "{o}的总部在哪里？", "buy_what": "{p}买了什么？",
        "buy_price": "{p}花了多少钱？", "act_who": "谁{v}{p2}？",
        "act_where": "{p}在哪里{v}{p2}？", "move_to": "{p}搬到哪里？",
        "move_from": "{p}从哪里搬走？",
    },
    "ar": {
        "live_where": "أين يعيش|تعيش {p}؟", "live_who": "من يعيش في {c}؟",
        "work_where": "أين يعمل|تعمل {p}؟", "work_who": "من يعمل في {o}؟",
        "based_where": "أين يقع مقر {o}؟", "buy_what": "ماذا يشتري|تشتري {p}؟",
        "buy_price": "كم يدفع|تدفع {p}؟", "act_who": "من {v.m} {p2}؟",
        "act_where": "أين {v} {p} {p2}؟", "move_to": "إلى أين ينتقل|تنتقل {p}؟",
        "move_from": "من أين ينتقل|تنتقل {p}؟",
    },
}
# Which questions a context sentence supports, and which slot answers each.
_QTYPES = {
    "live": ("live_where", "live_who"), "live_now": ("live_where", "live_who"),
    "work": ("work_where", "work_who"), "based": ("based_where",), "buy": ("buy_what", "buy_price"),
    "act": ("act_who", "act_where"), "act_alt": ("act_who", "act_where"),
    "move": ("move_to", "move_from"), "move_alt": ("move_to", "move_from"),
}
_ANSWER_SLOT = {
    "live_where": "c", "live_who": "p", "work_where": "o", "work_who": "p", "based_where": "c",
    "buy_what": "np", "buy_price": "price", "act_who": "p", "act_where": "c", "move_to": "c2", "move_from": "c",
}

_ENT_TYPE = {"p": "PER", "p2": "PER", "c": "LOC", "c2": "LOC", "o": "ORG"}
_NO_SPACE_BEFORE = set(".,;:!?)。，、？！،؟")
_NO_SPACE_LANGS = {"zh"}
_SLOT_RE = re.compile(r"\{(\w+)(?:\.(\w+))?\}")
_GENDER_RE = re.compile(r"(\S+)\|(\S+)")
_FR_ELIDE = {"ne", "que", "de"}
_FR_VOWELS = set("aeiouyhàâäéèêëîïôöûùAEIOUYHÀÂÉÈÊÎÔÛ")


# --- facts and rendering --------------------------------------------------------------------

class Tok(NamedTuple):
    text: str
    upos: str
    slot: str | None = None  # the slot this token renders (entity spans, answers)
    glue: bool = False  # no space after this token


@dataclass
class Fact:
    """One abstract statement: a template kind plus slot values, renderable in every language."""

    kind: str
    slots: dict[str, Any]

    def with_(self, kind: str | None = None, **slots: Any) -> "Fact":
        return Fact(kind or self.kind, {**self.slots, **slots})


@dataclass
class Rendered:
    """A fact in one language: tokens with UPOS, the text, and each slot's character span."""

    lang: str
    tokens: list[Tok]
    text: str
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def span_text(self, slot: str) -> str:
        s, e = self.spans[slot]
        return self.text[s:e]

    def ner_tags(self) -> list[str]:
        tags, prev = [], None
        for t in self.tokens:
            if t.slot in _ENT_TYPE:
                tags.append(("I-" if t.slot == prev else "B-") + _ENT_TYPE[t.slot])
            else:
                tags.append("O")
            prev = t.slot
        return tags

    def panx_pairs(self) -> list[tuple[str, str]]:
        """(token, IOB2 tag) as WikiANN has them: Chinese is split into characters."""
        pairs = list(zip((t.text for t in self.tokens), self.ner_tags()))
        if self.lang != "zh":
            return pairs
        out = []
        for text, tag in pairs:
            for i, ch in enumerate(text):
                out.append((ch, tag if i == 0 or tag == "O" else "I-" + tag[2:]))
        return out


def _compile(template: str) -> list[tuple]:
    items = []
    for item in template.split():
        m = _SLOT_RE.fullmatch(item)
        if m:
            items.append(("slot", m.group(1), m.group(2)))
        else:
            word, tag = item.rsplit("/", 1)
            assert tag in UPOS_TAGS, (template, tag)
            items.append(("lit", tuple(word.split("|")), tag))
    return items


_COMPILED = {lang: {k: _compile(t) for k, t in tmpls.items()} for lang, tmpls in _TEMPLATES.items()}


def _gender(fact: Fact) -> str:
    return _FIRST[fact.slots["p"][0]][0]


def _pick(forms: Sequence[str], gender: str) -> str:
    return forms[0] if len(forms) == 1 or gender == "m" else forms[1]


def _slot_tokens(lang: str, name: str, form: str | None, fact: Fact) -> list[Tok]:
    value = fact.slots[name]
    li = _LANG_INDEX[lang]
    if name in ("p", "p2"):
        first, last = _FIRST[value[0]], _LAST[value[1]]
        col = {"ru": 1, "zh": 2, "ar": 3}.get(lang, 0)
        if lang == "zh":
            return [Tok(f"{first[col + 1]}·{last[col]}", "PROPN", name)]
        return [Tok(first[col + 1], "PROPN", name), Tok(last[col], "PROPN", name)]
    if name in ("c", "c2"):
        return [Tok(_CITIES[value][li], "PROPN", name)]
    if name == "o":
        brand_forms, type_forms = _BRANDS[value[0]], _ORG_TYPES[value[1]][lang]
        brand = brand_forms[{"ru": 1, "zh": 2, "ar": 3}.get(lang, 0)]
        word, pos = type_forms
        if lang == "zh":
            return [Tok(brand + word, "PROPN", name)]
        if lang == "ru":
            word = word[1] if form == "prep" else word[0]
        type_pos = "NOUN" if lang in ("ru", "ar") else "PROPN"
        toks = [Tok(word, type_pos, name), Tok(brand, "PROPN", name)]
        return toks if pos == "pre" else toks[::-1]
    if name == "np":
        return [Tok(t, u, name) for t, u in _noun_phrase(lang, *value)]
    if name == "price":
        n = str(value)
        if lang == "en":
            return [Tok("€", "SYM", name, glue=True), Tok(n, "NUM", name)]
        if lang == "zh":
            return [Tok(n, "NUM", name), Tok("欧元", "NOUN", name)]
        if lang == "ar":
            return [Tok(n, "NUM", name), Tok("يورو", "NOUN", name)]
        return [Tok(n, "NUM", name), Tok("€", "SYM", name)]
    if name == "v":
        forms = _VERBS[value][lang]
        if lang == "en":
            return [Tok(forms[1] if form == "base" else forms[0], "VERB", name)]
        if lang == "ar":
            return [Tok(forms[0] if form == "m" else _pick(forms, _gender(fact)), "VERB", name)]
        return [Tok(forms, "VERB", name)]
    if name == "g":
        return [Tok(_HELLO[lang], "INTJ", name)] if value == "hello" else [Tok("aloha", "X", name)]
    raise KeyError(name)


def _noun_phrase(lang: str, noun: int, colour: int | None) -> list[tuple[str, str]]:
    """An indefinite object ("a red car") in the accusative, with agreement done per language."""
    n, c = _NOUNS[noun][lang], (_COLOURS[colour][lang] if colour is not None else None)
    if lang == "en":
        first = c or n
        art = "an" if first[0] in "aeiou" else "a"
        return [(art, "DET")] + ([(c, "ADJ")] if c else []) + [(n, "NOUN")]
    if lang == "de":
        word, g = n
        art = {"m": "einen", "f": "eine", "n": "ein"}[g]
        adj = [(c + {"m": "en", "f": "e", "n": "es"}[g], "ADJ")] if c else []
        return [(art, "DET")] + adj + [(word, "NOUN")]
    if lang in ("es", "fr"):
        word, g = n
        art = {"es": {"m": "un", "f": "una"}, "fr": {"m": "un", "f": "une"}}[lang][g]
        return [(art, "DET"), (word, "NOUN")] + ([(_pick(c, g), "ADJ")] if c else [])
    if lang == "ru":
        word, g = n
        return ([(_pick(c, g), "ADJ")] if c else []) + [(word, "NOUN")]
    if lang == "zh":
        clf, word = n
        return [("一", "NUM"), (clf, "NOUN")] + ([(c, "ADJ"), ("的", "PART")] if c else []) + [(word, "NOUN")]
    if lang == "ar":
        word, g = n
        return [(word, "NOUN")] + ([(_pick(c, g), "ADJ")] if c else [])
    raise KeyError(lang)


def _detok(lang: str, tokens: Sequence[Tok]) -> tuple[str, list[int]]:
    parts, offsets, pos = [], [], 0
    for i, t in enumerate(tokens):
        if i and lang not in _NO_SPACE_LANGS and not tokens[i - 1].glue and t.text not in _NO_SPACE_BEFORE:
            parts.append(" ")
            pos += 1
        offsets.append(pos)
        parts.append(t.text)
        pos += len(t.text)
    return "".join(parts), offsets


def render(lang: str, fact: Fact) -> Rendered:
    """The fact as a sentence of ``lang``: tokens, UPOS tags, text and slot spans."""
    gender = _gender(fact)
    tokens: list[Tok] = []
    for item in _COMPILED[lang][fact.kind]:
        if item[0] == "slot":
            tokens.extend(_slot_tokens(lang, item[1], item[2], fact))
        else:
            tokens.append(Tok(_pick(item[1], gender), item[2]))
    if lang == "fr":  # elision: ne habite -> n'habite, que il -> qu'il, de Oslo -> d'Oslo
        for i in range(len(tokens) - 1):
            t = tokens[i]
            if t.text.lower() in _FR_ELIDE and tokens[i + 1].text[0] in _FR_VOWELS:
                tokens[i] = Tok(t.text[:-1] + "'", t.upos, t.slot, glue=True)
    first = tokens[0]
    if first.text[0].islower():
        tokens[0] = Tok(first.text[0].upper() + first.text[1:], first.upos, first.slot, first.glue)
    text, offsets = _detok(lang, tokens)
    spans: dict[str, tuple[int, int]] = {}
    for i, t in enumerate(tokens):
        if t.slot is not None:
            end = offsets[i] + len(t.text)
            spans[t.slot] = (spans[t.slot][0], end) if t.slot in spans else (offsets[i], end)
    return Rendered(lang, tokens, text, spans)


def question(lang: str, qtype: str, fact: Fact) -> str:
    """A question about ``fact`` whose answer is the text of slot ``_ANSWER_SLOT[qtype]``."""
    gender = _gender(fact)
    q = _GENDER_RE.sub(lambda m: m.group(1) if gender == "m" else m.group(2), _QUESTIONS[lang][qtype])

    def slot(m: re.Match) -> str:
        toks = _slot_tokens(lang, m.group(1), m.group(2), fact)
        return _detok(lang, toks)[0]

    q = _SLOT_RE.sub(slot, q)
    if lang == "fr":
        q = re.sub(r"\b(qu|d|n)e (?=[%s])" % "".join(sorted(_FR_VOWELS)), r"\1'", q, flags=re.IGNORECASE)
    return q


# --- sampling -------------------------------------------------------------------------------

def _rng(seed: int, *parts: Any) -> random.Random:
    return random.Random("xtreme-demo/" + "/".join(str(p) for p in (seed, *parts)))


def _person(rng: random.Random) -> tuple[int, int]:
    return (rng.randrange(len(_FIRST)), rng.randrange(len(_LAST)))


def _sample_slots(rng: random.Random) -> dict[str, Any]:
    p = _person(rng)
    p2 = _person(rng)
    while p2 == p:
        p2 = _person(rng)
    c, c2 = rng.sample(range(len(_CITIES)), 2)
    return {
        "p": p, "p2": p2, "c": c, "c2": c2,
        "o": (rng.randrange(len(_BRANDS)), rng.randrange(len(_ORG_TYPES))),
        "np": (rng.randrange(len(_NOUNS)), rng.randrange(len(_COLOURS))),
        "price": rng.choice(_PRICES), "v": rng.randrange(len(_VERBS)),
        "g": rng.choice(("hello", "aloha")),
    }


def random_fact(rng: random.Random, kinds: Sequence[str] = SENTENCE_KINDS) -> Fact:
    return Fact(rng.choice(kinds), _sample_slots(rng))


def _other(rng: random.Random, n: int, *avoid: Any) -> int:
    return rng.choice([i for i in range(n) if i not in avoid])


def _other_price(rng: random.Random, price: int) -> int:
    return rng.choice([x for x in _PRICES if x != price])


def nli_example(rng: random.Random, label: str) -> tuple[Fact, Fact, str]:
    """(premise, hypothesis, label): entailment restates or generalises the premise,
    contradiction negates or changes it, neutral adds an unrelated detail."""
    s = _sample_slots(rng)
    kind = rng.choice(("live_work", "live_now", "buy", "act", "move"))
    c3 = _other(rng, len(_CITIES), s["c"], s["c2"])
    noun, colour = s["np"]
    if kind == "act":
        premise = Fact(rng.choice(("act", "act_alt")), s)
    elif kind == "move":
        premise = Fact(rng.choice(("move", "move_alt")), s)
    else:
        premise = Fact(kind, s)
    h = premise.with_
    options = {
        "live_work": {
            "entailment": [h("live"), h("work")],
            "contradiction": [h("live_neg"), h("work_neg"), h("live", c=s["c2"])],
            "neutral": [h("buy_plain"), h("act_noloc"), h("move_to", c2=c3)],
        },
        "live_now": {
            "entailment": [h("live")],
            "contradiction": [h("live_neg"), h("live", c=s["c2"])],
            "neutral": [h("work"), h("buy_plain")],
        },
        "buy": {
            "entailment": [h("buy_plain", np=(noun, None)), h("buy_plain")],
            "contradiction": [h("buy_plain", np=(noun, _other(rng, len(_COLOURS), colour))),
                              h("buy", price=_other_price(rng, s["price"]))],
            "neutral": [h("live"), h("work")],
        },
        "act": {
            "entailment": [h("act_noloc")],
            "contradiction": [h("act_neg")],
            "neutral": [h("buy_plain", p=s["p2"], p2=s["p"]), h("live", p=s["p2"], c=s["c2"])],
        },
        "move": {
            "entailment": [h("move_to")],
            "contradiction": [h("move_to", c2=c3), h("move", c2=c3)],
            "neutral": [h("work"), h("buy_plain")],
        },
    }[kind][label]
    return premise, rng.choice(options), label


def paws_example(rng: random.Random, label: int) -> tuple[Fact, Fact, int]:
    """(sentence1, sentence2, label): paraphrases reorder, non-paraphrases swap two roles."""
    s = _sample_slots(rng)
    forms, swap = (("act", "act_alt"), {"p": s["p2"], "p2": s["p"]}) if rng.random() < 0.6 else \
        (("move", "move_alt"), {"c": s["c2"], "c2": s["c"]})
    k1 = rng.choice(forms)
    first = Fact(k1, s)
    if label == 1:
        second = first.with_(forms[1] if k1 == forms[0] else forms[0])
    else:
        second = first.with_(rng.choice(forms), **swap)
    return first, second, label


def _balanced(rng: random.Random, labels: Sequence, n: int) -> list:
    out: list = []
    while len(out) < n:
        block = list(labels)
        rng.shuffle(block)
        out.extend(block)
    return out[:n]


def unique_facts(rng: random.Random, n: int, langs: Sequence[str]) -> list[Fact]:
    """n facts whose renderings are pairwise different in every language of ``langs``."""
    seen: dict[str, set[str]] = {lang: set() for lang in langs}
    out: list[Fact] = []
    while len(out) < n:
        fact = random_fact(rng)
        texts = {lang: render(lang, fact).text for lang in langs}
        if any(texts[lang] in seen[lang] for lang in langs):
            continue
        for lang in langs:
            seen[lang].add(texts[lang])
        out.append(fact)
    return out


# --- QA -------------------------------------------------------------------------------------

@dataclass
class _Paragraph:
    facts: list[Fact]
    questions: list[tuple[int, str]]  # (fact index, question type)


def _qa_paragraphs(rng: random.Random, n_questions: int, per_fact: tuple[int, int] = (1, 2),
                   max_per_paragraph: int | None = None) -> list[_Paragraph]:
    """Contexts of 3-5 facts with distinct people, cities and organisations, so every
    question has exactly one answer in its context."""
    kinds = ("live", "live_now", "work", "based", "buy", "act", "act_alt", "move", "move_alt")
    out: list[_Paragraph] = []
    total = 0
    while total < n_questions:
        n_facts = rng.randint(3, 5)
        people = [divmod(i, len(_LAST)) for i in rng.sample(range(len(_FIRST) * len(_LAST)), 2 * n_facts)]
        cities = rng.sample(range(len(_CITIES)), 2 * n_facts)
        orgs = [divmod(i, len(_ORG_TYPES)) for i in rng.sample(range(len(_BRANDS) * len(_ORG_TYPES)), n_facts)]
        facts: list[Fact] = []
        for _ in range(n_facts):
            s = _sample_slots(rng)
            s.update(p=people.pop(), p2=people.pop(), c=cities.pop(), c2=cities.pop(), o=orgs.pop())
            kind = rng.choice(kinds)
            works = [f for f in facts if f.kind == "work"]
            if kind == "based" and works and rng.random() < 0.5:
                s["o"] = works[-1].slots["o"]  # "X works at O. O is based in C."
                if any(f.kind == "based" and f.slots["o"] == s["o"] for f in facts):
                    kind = "live"
            facts.append(Fact(kind, s))
        qs: list[tuple[int, str]] = []
        for i, f in enumerate(facts):
            types = list(_QTYPES[f.kind])
            rng.shuffle(types)
            qs.extend((i, t) for t in types[:rng.randint(*per_fact)])
        rng.shuffle(qs)
        qs = qs[: min(n_questions - total, max_per_paragraph or len(qs))]
        if not qs:
            continue
        out.append(_Paragraph(facts, qs))
        total += len(qs)
    return out


def _qid(seed: int, *parts: Any) -> str:
    return hashlib.sha1("/".join(str(p) for p in (seed, *parts)).encode()).hexdigest()[:24]


def _squad(lang: str, paragraphs: list[_Paragraph], ids: Iterable[str], version: str,
           per_article: int = 3) -> dict:
    """SQuAD v1.1 JSON; answer_start is the answer's character offset in the context."""
    sep = "" if lang in _NO_SPACE_LANGS else " "
    ids = iter(ids)
    articles: list[dict] = []
    for k, para in enumerate(paragraphs):
        rendered = [render(lang, f) for f in para.facts]
        starts, pos = [], 0
        for r in rendered:
            starts.append(pos)
            pos += len(r.text) + len(sep)
        context = sep.join(r.text for r in rendered)
        qas = []
        for fi, qtype in para.questions:
            r, slot = rendered[fi], _ANSWER_SLOT[qtype]
            s, e = r.spans[slot]
            start = starts[fi] + s
            text = context[start:starts[fi] + e]
            assert text == r.span_text(slot)
            qas.append({"id": next(ids), "question": question(lang, qtype, para.facts[fi]),
                        "answers": [{"text": text, "answer_start": start}]})
        if k % per_article == 0:
            title = _CITIES[para.facts[0].slots["c"]][0].replace(" ", "_") + f"_{k // per_article + 1}"
            articles.append({"title": title, "paragraphs": []})
        articles[-1]["paragraphs"].append({"context": context, "qas": qas})
    return {"version": version, "data": articles}


# --- writers --------------------------------------------------------------------------------

def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _tsv(rows: Iterable[Sequence[str]]) -> str:
    """As XTREME writes its classification files: csv with a tab delimiter and CRLF line ends."""
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t").writerows(rows)
    return buf.getvalue()


def _lines(values: Iterable[Any]) -> str:
    return "".join(f"{v}\n" for v in values)


def _conll(sentences: list[list[tuple[str, ...]]]) -> str:
    """One token per line (tab-joined columns), a blank line between sentences."""
    return "\n".join("".join("\t".join(cols) + "\n" for cols in sent) for sent in sentences)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _task_langs(task: str, languages: Sequence[str]) -> list[str]:
    """The requested languages that are in the task's language lists (no file for the others)."""
    task_langs = set(registry()[task].all_languages())
    return [lang for lang in languages if lang in task_langs]


def _write_pair_task(root: Path, task: str, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    if task == "xnli":
        make, labels = nli_example, NLI_LABELS
    else:
        make, labels = paws_example, (0, 1)
    langs = _task_langs(task, languages)
    for split in ("train", "dev", "test"):
        rng = _rng(seed, task, split)
        examples = [make(rng, lab) for lab in _balanced(rng, labels, sizes[split])]
        for lang in (["en"] if split == "train" else langs):
            rows = [(render(lang, a).text, render(lang, b).text, str(lab)) for a, b, lab in examples]
            if split == "test":
                _write(root / task / f"test-{lang}.tsv", _tsv(r[:2] for r in rows))
                _write(root / task / "labels" / f"test-{lang}.tsv", _lines(r[2] for r in rows))
            else:
                _write(root / task / f"{split}-{lang}.tsv", _tsv(rows))


def _write_tagging(root: Path, task: str, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    langs = _task_langs(task, languages)
    for split in ("train", "dev", "test"):
        rng = _rng(seed, task, split)
        facts = [random_fact(rng) for _ in range(sizes[split])]
        for lang in (["en"] if split == "train" else langs):
            rendered = [render(lang, f) for f in facts]
            if task == "udpos":  # UD test files keep their tags
                sents = [[(t.text, t.upos) for t in r.tokens] for r in rendered]
                _write(root / task / f"{split}-{lang}.tsv", _conll(sents))
                continue
            sents = [r.panx_pairs() for r in rendered]
            if split == "test":  # XTREME strips PAN-X test tags; gold goes to labels/
                _write(root / task / f"test-{lang}.tsv", _conll([[(w,) for w, _ in s] for s in sents]))
                _write(root / task / "labels" / f"test-{lang}.tsv",
                       "".join("".join(f"{t}\n" for _, t in s) + "\n" for s in sents))
            else:
                _write(root / task / f"{split}-{lang}.tsv", _conll(sents))


def _write_qa(root: Path, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    paras = _qa_paragraphs(_rng(seed, "squad", "train"), sizes["train"])
    ids = (_qid(seed, "squad", i) for i in range(sizes["train"]))
    _write(root / "squad" / "train-v1.1.json", _json(_squad("en", paras, ids, "1.1")))

    paras = _qa_paragraphs(_rng(seed, "xquad", "test"), sizes["test"])
    for lang in _task_langs("xquad", languages):
        ids = (_qid(seed, "xquad", i) for i in range(sizes["test"]))
        _write(root / "xquad" / f"xquad.{lang}.json", _json(_squad(lang, paras, ids, "1.1")))

    for split in ("dev", "test"):
        paras = _qa_paragraphs(_rng(seed, "mlqa", split), sizes[split])
        for lang in _task_langs("mlqa", languages):
            ids = (_qid(seed, "mlqa", split, i) for i in range(sizes[split]))
            path = root / "mlqa" / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json"
            _write(path, _json(_squad(lang, paras, ids, "1.0")))

    version = "TyDiQA-GoldP-1.1-for-SQuAD-1.1"
    tydi_langs = ["en"] + [lang for lang in _task_langs("tydiqa", languages) if lang != "en"]
    for split, langs in (("train", ["en"]), ("dev", tydi_langs)):
        # TyDiQA-GoldP: one passage per question
        paras = _qa_paragraphs(_rng(seed, "tydiqa", split), sizes[split], max_per_paragraph=1)
        for lang in langs:
            ids = (f"{_TYDIQA_NAMES[lang]}-{_qid(seed, 'tydiqa', split, i)}" for i in range(sizes[split]))
            path = root / "tydiqa" / f"tydiqa-goldp-v1.1-{split}" / f"tydiqa.goldp.{lang}.{split}.json"
            _write(path, _json(_squad(lang, paras, ids, version, per_article=1)))


def bucc_corpus(lang: str, split: str, seed: int, n_gold: int) -> tuple[list[Fact], list[Fact], list[tuple[int, int]]]:
    """(xx-side facts, en-side facts, gold (xx index, en index)) in file order.

    Both sides hold distractors without a translation on the other side, and each
    side repeats one distractor sentence, as real comparable corpora do."""
    rng = _rng(seed, "bucc2018", lang, split)
    n_xx, n_en = max(2, n_gold // 3), max(2, n_gold // 2)
    facts = unique_facts(rng, n_gold + n_xx + n_en, (lang, "en"))
    gold, xx_only, en_only = facts[:n_gold], facts[n_gold:n_gold + n_xx], facts[n_gold + n_xx:]
    xx_side = [(f, i) for i, f in enumerate(gold)] + [(f, None) for f in xx_only] + [(xx_only[0], None)]
    en_side = [(f, i) for i, f in enumerate(gold)] + [(f, None) for f in en_only] + [(en_only[0], None)]
    rng.shuffle(xx_side)
    rng.shuffle(en_side)
    en_pos = {g: j for j, (_, g) in enumerate(en_side) if g is not None}
    pairs = sorted((i, en_pos[g]) for i, (_, g) in enumerate(xx_side) if g is not None)
    return [f for f, _ in xx_side], [f for f, _ in en_side], pairs


def _write_bucc(root: Path, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    for lang in _task_langs("bucc2018", languages):
        for split in ("dev", "test"):
            xx, en, pairs = bucc_corpus(lang, split, seed, sizes[split])
            base = root / "bucc2018" / f"{lang}-en.{split}"
            _write(base.with_name(base.name + f".{lang}"),
                   _lines(f"{lang}-{i + 1:09d}\t{render(lang, f).text}" for i, f in enumerate(xx)))
            _write(base.with_name(base.name + ".en"),
                   _lines(f"en-{i + 1:09d}\t{render('en', f).text}" for i, f in enumerate(en)))
            _write(base.with_name(base.name + ".gold"),
                   _lines(f"{lang}-{i + 1:09d}\ten-{j + 1:09d}" for i, j in pairs))


def tatoeba_facts(lang: str, seed: int, n: int) -> list[Fact]:
    """The facts behind line i of ``tatoeba/<lang>-en.<lang>`` (and of the unsorted English side)."""
    return unique_facts(_rng(seed, "tatoeba", lang), n, (lang, "en"))


def _write_tatoeba(root: Path, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    for lang in _task_langs("tatoeba", languages):
        facts = tatoeba_facts(lang, seed, sizes["test"])
        xx = [render(lang, f).text for f in facts]
        en = [render("en", f).text for f in facts]
        en_sorted = sorted(en)  # XTREME sorts the English side, hiding the alignment
        line_of = {s: i for i, s in enumerate(en)}  # facts are unique, so is each English rendering
        _write(root / "tatoeba" / f"{lang}-en.{lang}", _lines(xx))
        _write(root / "tatoeba" / f"{lang}-en.en", _lines(en_sorted))
        # XTREME's orientation: line j names the non-English line that translates sorted English line j.
        _write(root / "tatoeba" / "labels" / f"test-{lang}.tsv", _lines(line_of[s] for s in en_sorted))


# --- XTREME-R: XCOPA, LAReQA, Mewsli-X ----------------------------------------------------------

def copa_item(rng: random.Random) -> tuple[Fact, str, Fact, Fact]:
    """(premise, 'cause' or 'effect', right choice, wrong choice) about a move between two cities.

    effect: "P moves from A to B." -> "P now lives in B." (not A); cause: "P now lives in B." ->
    "P moves from A to B." (not from B to A).
    """
    s = _sample_slots(rng)
    move = Fact(rng.choice(("move", "move_alt")), s)
    if rng.random() < 0.5:
        return move, "effect", Fact("live_now", {**s, "c": s["c2"]}), Fact("live_now", s)
    back = Fact(move.kind, {**s, "c": s["c2"], "c2": s["c"]})
    return Fact("live_now", {**s, "c": s["c2"]}), "cause", move, back


def _write_xcopa(root: Path, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    """COPA-style JSON lines: English train/val (what XTREME-R trains on) and val/test per XCOPA language."""
    langs = _task_langs("xcopa", languages)
    for split, name in (("train", "train"), ("dev", "val"), ("test", "test")):
        rng = _rng(seed, "xcopa", split)
        items = []
        for i, label in enumerate(_balanced(rng, (0, 1), sizes[split])):
            premise, q, right, wrong = copa_item(rng)
            items.append((i, premise, q, (right, wrong) if label == 0 else (wrong, right), label))
        for lang in (["en"] if split == "train" else (["en"] if split == "dev" else []) + langs):
            lines = [json.dumps({"premise": render(lang, p).text, "choice1": render(lang, c[0]).text,
                                 "choice2": render(lang, c[1]).text, "question": q, "label": lab, "idx": i,
                                 "changed": False}, ensure_ascii=False) for i, p, q, c, lab in items]
            _write(root / "xcopa" / f"{name}-{lang}.jsonl", _lines(lines))


def _write_lareqa(root: Path, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    """XQuAD-R: XQuAD-shaped JSON whose paragraphs also carry ``sentences`` and ``sentence_breaks``."""
    paras = _qa_paragraphs(_rng(seed, "lareqa", "test"), sizes["test"])
    for lang in _task_langs("lareqa", languages):
        ids = (_qid(seed, "lareqa", i) for i in range(sizes["test"]))
        doc = _squad(lang, paras, ids, "1.1")
        sep = "" if lang in _NO_SPACE_LANGS else " "
        flat = [p for a in doc["data"] for p in a["paragraphs"]]
        for para, src in zip(flat, paras):
            breaks, pos = [], 0
            for fact in src.facts:
                n = len(render(lang, fact).text)
                breaks.append([pos, pos + n])
                pos += n + len(sep)
            para["sentence_breaks"] = breaks
            para["sentences"] = [para["context"][s:e] for s, e in breaks]
        _write(root / "lareqa" / "xquad-r" / f"{lang}.json", _json(doc))


def _entity(slot: str, value: Any) -> tuple[str, str, str]:
    """(entity id, English name, English description) of a city, organisation or person."""
    fact = Fact("live", {**_sample_slots(random.Random(0)), slot: value})
    name = _detok("en", _slot_tokens("en", slot, None, fact))[0]
    if slot == "c":
        return f"Q{1000 + value}", name, f"{name} is a city."
    if slot == "o":
        return f"Q{2000 + value[0] * len(_ORG_TYPES) + value[1]}", name, f"{name} is an organisation."
    return f"Q{3000 + value[0] * len(_LAST) + value[1]}", name, f"{name} is a person."


def _write_mewslix(root: Path, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> None:
    """Mewsli-X in the layout XTREME-R's utils_preprocess.py leaves: candidates, mentions, labels."""
    values = [("c", i) for i in range(len(_CITIES))]
    values += [("o", (b, t)) for b in range(len(_BRANDS)) for t in range(len(_ORG_TYPES))]
    values += [("p", (f, last)) for f in range(len(_FIRST)) for last in range(len(_LAST))]
    lines = []
    for slot, value in values:
        eid, name, desc = _entity(slot, value)
        lines.append(json.dumps({"entity_id": eid, "title": name, "description": desc, "sentence_spans": [{"start": 0, "end": len(desc)}],
                                 "description_language": "en", "description_url": ""}, ensure_ascii=False))
    _write(root / "mewslix" / "candidate_set_entities.jsonl", _lines(lines))
    for split in ("dev", "test"):
        rng = _rng(seed, "mewslix", split)
        facts = [random_fact(rng, ("live", "work", "based", "act", "move")) for _ in range(sizes[split])]
        slots = [rng.choice(_QSLOTS[f.kind]) for f in facts]
        for lang in _task_langs("mewslix", languages):
            lines, labels = [], {}
            for k, (fact, slot) in enumerate(zip(facts, slots)):
                r = render(lang, fact)
                s, e = r.spans[slot]
                eid = _entity(slot, fact.slots[slot])[0]
                example_id = _qid(seed, "mewslix", split, k)
                labels[example_id] = [eid]
                lines.append(json.dumps({
                    "context": {"document_title": f"demo-{split}-{k}", "document_url": "", "document_id": str(k),
                                "language": lang, "text": r.text,
                                "sentence_spans": [{"start": 0, "end": len(r.text)}]},
                    "mentions": [{"example_id": example_id, "mention_span": {"start": s, "end": e, "text": r.text[s:e]},
                                  "entity_id": eid}]}, ensure_ascii=False))
            _write(root / "mewslix" / "wikinews_mentions" / f"{split}-{lang}.jsonl", _lines(lines))
            _write(root / "mewslix" / "wikinews_labels" / f"{split}-{lang}.json", _json(labels))


# Which entity slots a sentence kind renders.
_QSLOTS = {"live": ("p", "c"), "work": ("p", "o"), "based": ("o", "c"), "act": ("p", "c"), "move": ("p", "c")}


def _languages(languages: str | Sequence[str]) -> list[str]:
    if isinstance(languages, str):
        languages = SUPPORTED_LANGUAGES if languages.strip() == "all" else languages.split(",")
    out: list[str] = []
    for lang in languages:
        lang = lang.strip()
        if not lang:
            continue
        if lang not in SUPPORTED_LANGUAGES:
            raise UserError(f"the demo data has no language '{lang}' (supported: {', '.join(SUPPORTED_LANGUAGES)})")
        if lang not in out:
            out.append(lang)
    if not out:
        raise UserError("no languages given for the demo data")
    return out


def write_demo_data(out_dir: str | Path, languages: str | Sequence[str] = DEFAULT_LANGUAGES, seed: int = 0,
                    size: str = "small") -> Path:
    """Write demo data for the nine XTREME tasks and the three of XTREME-R under ``out_dir`` in XTREME's layout.

    English training files (``xnli/train-en.tsv``, ``squad/train-v1.1.json``, ...)
    are always written; dev/test files for each requested language that the task
    has. The same seed gives byte-identical files.
    """
    if size not in SIZES:
        raise UserError(f"unknown demo size '{size}' (expected one of: {', '.join(SIZES)})")
    langs = _languages(languages)
    sizes = SIZES[size]
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for task in ("xnli", "pawsx"):
        _write_pair_task(root, task, langs, seed, sizes)
    for task in ("udpos", "panx"):
        _write_tagging(root, task, langs, seed, sizes)
    _write_qa(root, langs, seed, sizes)
    _write_bucc(root, langs, seed, sizes)
    _write_tatoeba(root, langs, seed, sizes)
    _write_xcopa(root, langs, seed, sizes)
    _write_lareqa(root, langs, seed, sizes)
    _write_mewslix(root, langs, seed, sizes)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xtreme_harness.demo_data",
        description="Write synthetic demo data for the nine XTREME tasks in XTREME's download layout.")
    parser.add_argument("out", help="output folder (use it as --data-dir)")
    parser.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES),
                        help=f"comma-separated, or 'all' (supported: {','.join(SUPPORTED_LANGUAGES)})")
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        root = write_demo_data(args.out, args.languages, seed=args.seed, size=args.size)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = sum(1 for p in root.rglob("*") if p.is_file())
    print(f"wrote demo data ({args.size}, {', '.join(_languages(args.languages))}) to {root} ({n} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
