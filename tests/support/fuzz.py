"""Property-based fuzzing shared by the engine's and the bot's fuzz tests: the settings every
property runs with, and the texts users actually paste.

Examples are derandomised (the same inputs on every run, so CI is reproducible) and modest in
number, since the CPUs are shared; raise ``FUZZ_EXAMPLES`` locally for a deeper search.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
fuzz = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Thai letters, vowels and tone marks, digits, markup characters, invisible and combining
# characters, emoji with modifiers, RTL text and controls, CJK: what users actually paste.
TRICKY = list(
    "กขคงจฉชซญณดตถทนบปผพฟภมยรลวศษสหอฮะาิีึืุูเแโใไ่้๊๋็์ๆฯ๐๑๒๓ "
    "abcXYZ0129.,!?()*_[]`~<>&\"';/#\n\t\u200b\u200c\u200d\u00ad\ufeff\u0301\u0651"
    "漢字😀👍🏽👨‍👩‍👧\u202e\u200fمرحباשלום\u00a0\u3000"
)
tricky_text = st.text(st.sampled_from(TRICKY), max_size=600) | st.text(max_size=300)
any_text = st.text(st.characters(codec="utf-8"), max_size=5000)
