"""A job's main result, as VO clients look for it: the result whose id is ``result`` (its href ends in
``results/result``), listed first.

pyvo's ``AsyncTAPJob.fetch_result`` (and clients written alike) take the result with id ``result``, or the first one;
a workflow names its files as it likes (``helloworld.json``, ``stdout``). So every job that has results also lists a
``result``: the result of that id if the backend made one, else the workflow's first declared output that exists,
else the payload's standard output. It is the same file as the one it stands for, under a second id.
Must not depend on anything but the API models.
"""

from esap_messages.api import ResultView

MAIN_RESULT = "result"
LOGS = ("stdout", "stderr")


def main_result(results: list[ResultView]) -> ResultView | None:
    """The result the main one stands for (itself when the backend named one ``result``), or None without results."""
    named = next((r for r in results if r.id == MAIN_RESULT), None)
    if named is not None:
        return named
    outputs = [r for r in results if r.id not in LOGS]
    if outputs:
        return outputs[0]
    return next((r for r in results if r.id == "stdout"), results[0] if results else None)


def listed_results(results: list[ResultView]) -> list[ResultView]:
    """The results as UWS lists them: the main result first, under the id ``result``, then every result as it is."""
    main = main_result(results)
    if main is None or main.id == MAIN_RESULT:
        return sorted(results, key=lambda r: r.id != MAIN_RESULT)
    return [main.model_copy(update={"id": MAIN_RESULT}), *results]


def find_result(results: list[ResultView], result_id: str) -> ResultView | None:
    """The result a client asks for by id, ``result`` included."""
    found = next((r for r in results if r.id == result_id), None)
    return found if found is not None or result_id != MAIN_RESULT else main_result(results)
