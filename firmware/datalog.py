# On-device datalog: every reading the node measured, kept on flash until it is old enough to drop.
#
# Records are appended to segment files "<n>.seg" (n counts up, 8 hex digits) under `directory`:
#   len   u16 LE   length of frame
#   frame          edge.payload frame (absolute seq and time) holding 1..batch readings
#   crc   u16 LE   edge.crc.crc16_ccitt over len and frame
# A segment closes when the next record would take it past the segment size; when the segments
# together would pass budget_bytes the oldest is deleted (counted in dropped_segments/readings).
#
# Power loss: littlefs keeps a file's previous state until close (DESIGN.md), but the log must not
# depend on it (FAT, torn pages): on open the newest segment is scanned, a record whose length or
# CRC does not check ends it (counted in `torn`), and new records go to a fresh segment.
#
# Batching (batch > 1) spares flash: readings wait in RAM and go out as one record of `batch`
# readings, which shares the header, time base and presence bitmap. The waiting readings are mirrored
# to `stash` (RTC memory on a board: it survives deep sleep and resets, not power loss) so deep sleep
# between cycles keeps them. When the stash is lost, the waiting readings are lost with it; their
# sequence numbers may already have gone on air, so the log skips `batch` numbers and never reuses one.
#
# The highest sequence the gateway confirmed (acked_seq) is kept in the file "ack", rewritten with
# each record write when it changed (and on close), so an ack costs no flash write of its own.
import os
import struct

from micropython import const

from edge import payload, vocab
from edge.crc import crc16_ccitt

_HEAD = const(2)
_TAIL = const(2)
_MAX_FRAME = const(0xFFFF)
_SEG_MAX = const(4096)  # one flash erase block on ESP32 and RP2040: a segment at most that
_SEG_MIN = const(256)
_MIN_SEGMENTS = const(4)
_ACK_FILE = "ack"
_SUFFIX = ".seg"


class DatalogError(Exception):
    pass


def _join(d, name):
    return d + "/" + name


def _makedirs(path):
    """mkdir -p: a fresh board has no /data yet (an existing directory is fine)."""
    at = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        at = at + part if at in ("", "/") else at + "/" + part
        try:
            os.mkdir(at)
        except OSError:
            pass  # exists already; a real failure shows when the first segment is written


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def _frame_record(frame):
    n = len(frame)
    if n > _MAX_FRAME:
        raise DatalogError("record too long")
    rec = bytearray(_HEAD + n + _TAIL)
    struct.pack_into("<H", rec, 0, n)
    rec[_HEAD : _HEAD + n] = frame
    struct.pack_into("<H", rec, _HEAD + n, crc16_ccitt(rec, 0, _HEAD + n))
    return rec


def _records(path):
    """Yield (offset, frame) for each intact record of a segment; stop at the first bad one."""
    try:
        f = open(path, "rb")
    except OSError:
        return
    try:
        pos = 0
        while True:
            head = f.read(_HEAD)
            if not head or len(head) < _HEAD:
                return
            n = struct.unpack("<H", head)[0]
            body = f.read(n + _TAIL)
            if n == 0 or len(body) < n + _TAIL:
                return
            crc = crc16_ccitt(head)
            crc = crc16_ccitt(body, 0, n, crc)
            if crc != struct.unpack_from("<H", body, n)[0]:
                return
            yield pos, memoryview(body)[:n]
            pos += _HEAD + n + _TAIL
    finally:
        f.close()


def _check(r):
    # what payload.encode() would refuse, without building the frame (allocations on a board)
    t = r.get("t")
    if not isinstance(t, int) or t < 0 or t > 0xFFFFFFFF:
        raise payload.PayloadError("a reading needs its time t, unix seconds")
    for k in r:
        if k == "seq" or k == "t":
            continue
        q = vocab.BY_NAME.get(k)
        if q is None:
            raise payload.UnknownQuantity("unknown quantity %r" % k)
        v = r[k]
        if not isinstance(v, (int, float)) or not (q[6] <= v <= q[7]):
            raise payload.ValueOutOfRange("%s = %r outside %r..%r" % (k, v, q[6], q[7]))


class Datalog:
    """Append-only, power-loss-safe log of readings with a flash budget (see the file header)."""

    def __init__(self, directory, budget_bytes, batch=1, stash=None):
        if budget_bytes < _MIN_SEGMENTS * _SEG_MIN:
            raise DatalogError("datalog budget below %d bytes" % (_MIN_SEGMENTS * _SEG_MIN))
        if batch < 1 or batch > payload.MAX_READINGS:
            raise DatalogError("batch must be 1..%d" % payload.MAX_READINGS)
        self.directory = directory
        self.budget = budget_bytes
        self.batch = batch
        self.seg_bytes = max(_SEG_MIN, min(_SEG_MAX, budget_bytes // _MIN_SEGMENTS))
        self._stash = stash
        self._frame_buf = bytearray(payload.MAX_FRAME_BYTES)  # encoding scratch, allocated once
        # counters a field technician reads in the status uplink and the logs
        self.bytes_written = 0
        self.records_written = 0
        self.dropped_segments = 0
        self.dropped_readings = 0
        self.torn = 0
        self.skipped_seqs = 0
        self._pending = []
        self._segs = []  # [segment number, first seq, size in bytes], oldest first
        self._open_seg = False  # may the newest segment take more records?
        self._acked = 0
        self._acked_written = 0
        self._last = 0
        _makedirs(directory)
        self._recover()

    # ---- opening ----

    def _path(self, num):
        return _join(self.directory, "%08x%s" % (num, _SUFFIX))

    def _recover(self):
        nums = []
        for name in os.listdir(self.directory):
            if name.endswith(_SUFFIX) and len(name) == 8 + len(_SUFFIX):
                try:
                    nums.append(int(name[:8], 16))
                except ValueError:
                    pass
        nums.sort()
        for num in nums:  # the first record of each segment gives its first seq
            first = None
            recs = _records(self._path(num))
            for _, frame in recs:
                readings = self._decode(frame)
                if readings is not None:
                    first = readings[0]["seq"]
                break
            recs.close()
            if first is None:
                self._remove_unreadable(num)  # a record torn at its very start, or a dead segment
            else:
                self._segs.append([num, first, _size(self._path(num))])
        last = 0
        if self._segs:  # the newest segment is scanned to its last intact record
            seg = self._segs[-1]
            end = 0
            for pos, frame in _records(self._path(seg[0])):
                readings = self._decode(frame)
                if readings is None:
                    break
                last = readings[-1]["seq"]
                end = pos + _HEAD + len(frame) + _TAIL
            self._open_seg = end == seg[2]
            if end != seg[2]:
                self.torn += 1
        self._last = last
        acked = self._read_ack()
        if acked is None:  # a new log: nothing can be on air yet
            self._acked = 0
            self._write_ack()
            return
        self._acked = acked
        self._acked_written = acked
        self._restore_stash()

    def _remove_unreadable(self, num):
        path = self._path(num)
        if _size(path) > 0:
            self.torn += 1
        try:
            os.remove(path)
        except OSError:
            pass

    def _decode(self, frame):
        try:
            return payload.decode(frame)
        except ValueError:
            return None

    def _read_ack(self):
        try:
            with open(_join(self.directory, _ACK_FILE)) as f:
                text = f.read()
        except OSError:
            return None
        try:
            return int(text)
        except ValueError:
            return 0

    def _restore_stash(self):
        if self.batch == 1:
            return
        data = self._stash.load() if self._stash is not None else None
        restored = False
        if data and len(data) > 10:
            body = memoryview(data)[: len(data) - 2]
            if crc16_ccitt(body) == struct.unpack_from("<H", data, len(data) - 2)[0]:
                base, acked, nseq = struct.unpack_from("<III", data, 0)
                if nseq == self._last:  # the batch was written, the stash not yet emptied
                    self._acked = max(self._acked, acked)
                    restored = True
                elif base == self._last:
                    self._acked = max(self._acked, acked)
                    self._last = nseq
                    if len(data) > 14:
                        pend = self._decode(memoryview(data)[12 : len(data) - 2])
                        if pend is not None:
                            self._pending = pend
                    restored = True
        if not restored:
            # readings that waited in RAM are gone; their seqs may be on air already: skip them
            self._last += self.batch
            self.skipped_seqs += self.batch

    # ---- properties ----

    @property
    def last_seq(self):
        """The sequence number of the newest reading (0 before the first)."""
        return self._last

    @property
    def acked_seq(self):
        """The highest sequence the gateway confirmed it stored."""
        return self._acked

    @property
    def first_seq(self):
        """The oldest sequence still held (last_seq + 1 when the log is empty)."""
        if self._segs:
            return self._segs[0][1]
        if self._pending:
            return self._pending[0]["seq"]
        return self._last + 1

    @property
    def waiting_seqs(self):
        """Seqs of the readings not yet on flash (waiting for their batch): a power cut loses them."""
        return [r["seq"] for r in self._pending]

    @property
    def used_bytes(self):
        n = 0
        for s in self._segs:
            n += s[2]
        return n

    # ---- writing ----

    def append(self, reading):
        """Log a reading (dict of quantities; its "t" is required) and return its new seq."""
        r = {}
        for k in reading:
            if k != "seq" and reading[k] is not None:
                r[k] = reading[k]
        r["seq"] = self._last + 1
        _check(r)  # refuse what could not be read back, before it takes a seq
        self._pending.append(r)
        self._last = r["seq"]
        if len(self._pending) >= self.batch:
            self.flush()
        else:
            self._save_stash()
        return r["seq"]

    def ack(self, seq):
        """The gateway stored every reading up to seq. Kept on flash with the next write."""
        if seq > self._last:
            seq = self._last
        if seq > self._acked:
            self._acked = seq
            self._save_stash()

    def flush(self):
        """Write the waiting readings (if any) as one record, and the ack if it moved."""
        if self._pending:
            n = payload.encode_into(self._frame_buf, self._pending)
            rec = _frame_record(memoryview(self._frame_buf)[:n])
            self._write_record(rec, self._pending[0]["seq"])
            self._pending = []
        if self._acked != self._acked_written:
            self._write_ack()
        self._save_stash()

    def close(self):
        """Before deep sleep or reboot: with a stash the batch waits there, else it is written."""
        if self._stash is None or self.batch == 1:
            self.flush()
        else:
            self._save_stash()

    def _write_record(self, rec, first):
        if not self._open_seg or not self._segs or self._segs[-1][2] + len(rec) > self.seg_bytes:
            num = self._segs[-1][0] + 1 if self._segs else 0
            self._segs.append([num, first, 0])
            self._open_seg = True
        while len(self._segs) > 1 and self.used_bytes + len(rec) > self.budget:
            self._drop_oldest()
        seg = self._segs[-1]
        f = open(self._path(seg[0]), "ab")
        try:
            f.write(rec)
        finally:
            f.close()
        seg[2] += len(rec)
        self.bytes_written += len(rec)
        self.records_written += 1

    def _drop_oldest(self):
        num, first, _ = self._segs.pop(0)
        try:
            os.remove(self._path(num))
        except OSError:
            pass
        self.dropped_segments += 1
        self.dropped_readings += self._segs[0][1] - first

    def _write_ack(self):
        tmp = _join(self.directory, _ACK_FILE + ".tmp")
        text = "%d" % self._acked
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, _join(self.directory, _ACK_FILE))  # atomic on littlefs
        self.bytes_written += len(text)
        self._acked_written = self._acked

    def _save_stash(self):
        if self._stash is None or self.batch == 1:
            return
        base = self._last - len(self._pending)
        head = struct.pack("<III", base, self._acked, self._last)
        buf = bytearray(head)
        if self._pending:
            buf.extend(memoryview(self._frame_buf)[: payload.encode_into(self._frame_buf, self._pending)])
        buf.extend(struct.pack("<H", crc16_ccitt(buf)))
        self._stash.save(bytes(buf))

    # ---- reading ----

    def read(self, first_seq, last_seq):
        """Yield the readings held with first_seq <= seq <= last_seq, oldest first. A caller that
        stops early calls close() on the generator, so no segment file stays open."""
        segs = self._segs
        for i in range(len(segs)):
            nxt = segs[i + 1][1] if i + 1 < len(segs) else None
            if nxt is not None and nxt <= first_seq:
                continue
            if segs[i][1] > last_seq:
                break
            recs = _records(self._path(segs[i][0]))
            try:
                for _, frame in recs:
                    readings = self._decode(frame)
                    if readings is None:
                        break
                    for r in readings:
                        if first_seq <= r["seq"] <= last_seq:
                            yield r
            finally:
                recs.close()  # a reader that stops early must not leave the file open
        for r in self._pending:
            if first_seq <= r["seq"] <= last_seq:
                yield r
