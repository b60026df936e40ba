# Event uplinks (docs/firmware.md "Events"): between the interval's samples the node watches some
# quantities every watch_s; a rule that starts to hold (water above a level, rising faster than a
# rate, a container above 90 %) makes an event reading that goes at once as a confirmed uplink,
# outside the interval's reading, and again at every watch until the network acknowledges it.
#   {"watch_s": 30, "rules": [{"quantity": "water_level", "above": 1.5},
#                             {"quantity": "water_level", "rise_per_h": 0.3},
#                             {"quantity": "fill_level", "above": 90}]}
from edge import vocab

MIN_WATCH_S = 10
# A rise rate is measured over 5 to 10 minutes (against a base value renewed every 10): echo noise
# over one watch step (a few mm in 30 s) would otherwise read as tenths of a metre an hour.
RATE_MIN_S = 300
RATE_BASE_S = 600


def parse(problems, ev, interval_s, produced):
    """The checked events section (None when absent). produced: quantities the node's sensors give."""
    if ev is None:
        return None
    if not isinstance(ev, dict):
        problems.append("events must be an object")
        return None
    w = ev.get("watch_s", 60)
    if isinstance(w, bool) or not isinstance(w, int) or not MIN_WATCH_S <= w < interval_s:
        problems.append("events.watch_s must be an integer %d..interval_s - 1" % MIN_WATCH_S)
        w = 60
    rules = ev.get("rules")
    if not isinstance(rules, list) or not rules:
        problems.append("events.rules must be a non-empty list")
        return None
    out = []
    for i in range(len(rules)):
        r = rules[i]
        where = "events.rules[%d]" % i
        q = r.get("quantity") if isinstance(r, dict) else None
        if q not in produced:
            problems.append("%s.quantity %r is not measured by this node's sensors" % (where, q))
            continue
        kinds = [k for k in ("above", "rise_per_h") if k in r]
        if len(kinds) != 1:
            problems.append("%s needs one of above, rise_per_h" % where)
            continue
        v = r[kinds[0]]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            problems.append("%s.%s must be a number" % (where, kinds[0]))
        elif kinds[0] == "above" and not vocab.in_range(q, v):
            problems.append("%s.above is outside the valid range of %s" % (where, q))
        elif kinds[0] == "rise_per_h" and v <= 0:
            problems.append("%s.rise_per_h must be above 0" % where)
        else:
            out.append((q, kinds[0], float(v)))
    return {"watch_s": w, "rules": out}


class Watch:
    """Edge detection of the rules: fires once when a rule starts to hold, re-arms when it stops."""

    def __init__(self, rules):
        self.rules = rules
        self._holding = [False] * len(rules)
        self._last = {}  # quantity -> (value, unix s) of the previous watch, for rates
        self.quantities = tuple(set(r[0] for r in rules))

    def check(self, values, t):
        """Rules that started to hold with these values at unix time t (indexes)."""
        fired = []
        for i in range(len(self.rules)):
            q, kind, limit = self.rules[i]
            v = values.get(q)
            if v is None:
                continue
            if kind == "above":
                holds = v > limit
            else:
                prev = self._last.get(q)
                if prev is None or t - prev[1] < RATE_MIN_S:
                    continue  # too short a span to tell a rise from noise: the state stands
                holds = (v - prev[0]) * 3600.0 / (t - prev[1]) > limit
            if holds and not self._holding[i]:
                fired.append(i)
            self._holding[i] = holds
        for q in self.quantities:
            prev = self._last.get(q)
            if values.get(q) is not None and (prev is None or t - prev[1] >= RATE_BASE_S):
                self._last[q] = (values[q], t)
        return fired
