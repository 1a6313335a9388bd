"""Many clients, one model: concurrent requests wait in a short queue, and their lines are
translated together in one call of the translator (one fairseq generator call), at most
``max_lines`` lines and ``max_wait`` seconds after the first request of the batch came in. The
model runs in one worker thread, so the event loop keeps accepting requests meanwhile and no two
calls ever share the model."""
import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass
class Pending:
    lines: list
    nbest: int
    done: asyncio.Future = field(repr=False)


class BatchingQueue:
    def __init__(self, translate, max_lines=64, max_wait=0.01):
        """``translate(lines, nbest)`` returns one result per line, in order."""
        self.translate = translate
        self.max_lines = max_lines
        self.max_wait = max_wait
        self.batches = 0  # generator calls so far (GET /info reports them)
        self._queue = None
        self._worker = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="translator")

    async def start(self):
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())

    async def stop(self):
        self._worker.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, lines, nbest=1):
        """The results of ``lines``, translated in some batch with other requests' lines."""
        pending = Pending(list(lines), nbest, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        return await pending.done

    async def _serve(self):
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while sum(len(p.lines) for p in batch) < self.max_lines:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(0.0, deadline - loop.time())))
                except TimeoutError:
                    break
            lines = [line for pending in batch for line in pending.lines]
            try:
                results = await loop.run_in_executor(self._executor, self.translate, lines,
                                                     max(p.nbest for p in batch))
            except Exception as error:  # every request of the batch learns of it
                for pending in batch:
                    if not pending.done.done():  # (a client that went away cancelled its own)
                        pending.done.set_exception(error)
                continue
            self.batches += 1
            start = 0
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(results[start:start + len(pending.lines)])
                start += len(pending.lines)
