"""Nesting depth of packet-forwarder JSON bodies, counted outside strings, on each of its paths:
bodies without escapes (pairs of quotes dropped when no string holds a bracket, else split at
quotes) and bodies with them (the string regex)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from gateway.udp import jsonbody

text = st.text(alphabet='ab[]{}"\\/ \u00e9', max_size=8)
values = st.recursive(
    st.none() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)


def nesting(value):
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0


@given(values)
def test_depth_is_the_nesting_of_the_value_whatever_its_strings_hold(value):
    body = json.dumps(value, ensure_ascii=False).encode()
    assert jsonbody.depth(body) == min(nesting(value), jsonbody.MAX_DEPTH + 1)


def test_brackets_in_strings_do_not_count_with_or_without_escapes():
    assert jsonbody.depth(b'{"a":"[[[[[[[[[[[["}') == 1
    assert jsonbody.depth(b'{"a":"\\"[[[[[[[[[[[["}') == 1  # an escaped quote does not end the string
    assert jsonbody.depth(b'{"a":[[[[[[[[[["x"]]]]]]]]]]}') == 9  # the loop stops counting past MAX_DEPTH
