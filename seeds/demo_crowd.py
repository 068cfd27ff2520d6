"""The demo's simulated crowd (``python -m seeds.demo_crowd --rate N``, started by bin/run
with the demo): synthetic annotators who label the demo projects in the real Label
Studio exactly as people do. Each session is the portal's own hand-off
(``qianbiao.portal.handoff.handoff_prepare``, the token POSTed to Label Studio's
``/qianbiao/handoff/``), then that annotator's browser session asks their queue for the
next task and submits an annotation; Label Studio's webhook brings it back to Qianbiao.

Accuracy and speed follow each annotator's skill in the task type (and level); about
one in eight is careless: fast and often wrong, whom quality control should pause.
The crowd reads the database only to know items' right answers (a simulation has to);
everything it writes goes through Label Studio.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import random
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx

from seeds.demo import _django
from seeds.demo_data import demo_answer, item_number

logger = logging.getLogger("demo_crowd")
SESSION_TASKS = (3, 12)  # tasks one sitting labels, at random in this range


def is_careless(code: str) -> bool:
    return int(hashlib.sha256(code.encode()).hexdigest(), 16) % 8 == 0


def accuracy(*, code: str, proficiency: int, skill_level: int) -> float:
    """The chance of the right answer: careless 35 %; otherwise 72-97 % by proficiency
    (1-3) in the task type and skill level (5 = entry … 1 = senior technician)."""
    if is_careless(code):
        return 0.35
    return min(0.97, 0.67 + 0.07 * proficiency + 0.02 * (5 - skill_level))


def seconds_per_task(*, code: str, proficiency: int, base: float) -> float:
    if is_careless(code):
        return base * 0.4
    return base * (1.3 - 0.15 * proficiency)


def _wrong(result: list[dict], key: str, n: int, rng: random.Random) -> list[dict]:
    """A plausible mistake for the task type."""
    from seeds import demo_data as d

    wrong = copy.deepcopy(result)
    region = wrong[0]
    value = region["value"]
    if region["type"] == "choices":
        options = d.ICH_CLASSES if key == "ich-images" else d.TOURISM_CLASSES
        value["choices"] = [rng.choice([o for o in options if o not in value["choices"]])]
    elif region["type"] == "textarea":
        value["text"] = [d.MIAO_PHRASES[(n + rng.randint(1, 9)) % len(d.MIAO_PHRASES)]]
    elif region["type"] == "labels":
        region = rng.choice(wrong)
        others = [x for x in d.NER_LABELS if x not in region["value"]["labels"]]
        region["value"]["labels"] = [rng.choice(others)]
    else:  # a box in the wrong place
        value["x"], value["y"] = (value["x"] + 30) % 60, (value["y"] + 30) % 50
    return wrong


def _jitter(result: list[dict], rng: random.Random) -> list[dict]:
    """A right box is never drawn to the pixel."""
    out = copy.deepcopy(result)
    for region in out:
        if region["type"] == "rectanglelabels":
            for name in ("x", "y"):
                region["value"][name] = round(region["value"][name] + rng.uniform(-1, 1), 2)
    return out


class Crowd:
    def __init__(self, *, rate: float, seed: int = 7) -> None:
        from seeds.demo_data import demo_projects

        self.base = 60.0 / rate  # the whole crowd's pace: `rate` annotations per minute
        self.rng = random.Random(seed)
        self.keys = {p.name: p.key for p in demo_projects(1)}
        self.done = 0

    def _candidates(self) -> list[tuple[int, int]]:
        """(annotator, project) pairs with open work already in Label Studio."""
        from qianbiao.projects.models import Assignment, AssignmentState

        return list(
            Assignment.objects.filter(
                state=AssignmentState.OPEN, ls_task_id__isnull=False, project__name__in=list(self.keys)
            )
            .values_list("annotator_id", "project_id")
            .distinct()[:500]
        )

    def sitting(self, annotator_id: int, project_id: int) -> int:
        """One annotator's sitting: hand-off, then a few tasks from their own queue."""
        from qianbiao.portal.handoff import HandoffUnavailable, handoff_prepare
        from qianbiao.projects.models import DatasetProject
        from qianbiao.workforce.models import Annotator, AnnotatorSkill

        annotator = Annotator.objects.get(pk=annotator_id)
        project = DatasetProject.objects.get(pk=project_id)
        key = self.keys[project.name]
        skill = AnnotatorSkill.objects.filter(annotator=annotator, task_type=project.task_type).first()
        proficiency = skill.proficiency if skill else 1
        p_right = accuracy(code=annotator.code, proficiency=proficiency, skill_level=annotator.skill_level)
        pace = seconds_per_task(code=annotator.code, proficiency=proficiency, base=self.base)
        try:
            handoff = handoff_prepare(annotator_id=annotator_id, project_id=project_id)
        except HandoffUnavailable as exc:
            logger.info("no hand-off for %s in %s: %s", annotator.code, project.name, exc)
            return 0
        with httpx.Client(timeout=30) as browser:
            made = self._label(browser, handoff, key=key, p_right=p_right, pace=pace, who=annotator.code)
        self.done += made
        logger.info("%s labelled %d in %s (total %d)", annotator.code, made, project.name, self.done)
        return made

    def _label(self, browser: httpx.Client, handoff, *, key: str, p_right: float, pace: float, who: str):
        """The hand-off's POST (a session as the annotator, landing on their queue), then
        the queue's next tasks, each answered after the annotator's time."""
        from qianbiao.projects.models import Assignment

        landed = browser.post(handoff.action, data={"token": handoff.token}, follow_redirects=False)
        if landed.status_code != 303:
            logger.warning("hand-off refused for %s: %s %s", who, landed.status_code, landed.text[:200])
            return 0
        base = handoff.action.rsplit("/qianbiao/handoff/", 1)[0]
        where = urlparse(landed.headers["location"])  # /projects/<id>/data?tab=<view>
        ls_project, view = int(where.path.strip("/").split("/")[1]), int(parse_qs(where.query)["tab"][0])
        headers = {"X-CSRFToken": browser.cookies.get("csrftoken", ""), "Referer": f"{base}/"}
        made = 0
        for _ in range(self.rng.randint(*SESSION_TASKS)):
            next_url = f"{base}/api/projects/{ls_project}/next"
            task = browser.get(next_url, params={"view": view}, headers=headers)
            if task.status_code != 200:
                break
            task_id = int(task.json()["id"])
            work = Assignment.objects.filter(ls_task_id=task_id)
            external = work.values_list("item__external_id", flat=True)
            if not external:
                break
            n = item_number(external[0])[1]
            right = demo_answer(key, n)
            wrong = self.rng.random() >= p_right
            result = _wrong(right, key, n, self.rng) if wrong else _jitter(right, self.rng)
            time.sleep(pace * self.rng.uniform(0.6, 1.4))
            sent = browser.post(
                f"{base}/api/tasks/{task_id}/annotations/",
                json={"result": result, "lead_time": round(pace * 20, 1)},
                headers=headers,
            )
            if sent.status_code not in (200, 201):
                logger.warning("annotation refused: %s %s", sent.status_code, sent.text[:200])
                break
            made += 1
        return made

    def run_forever(self) -> None:
        from django.db import close_old_connections

        while True:
            close_old_connections()
            candidates = self._candidates()
            if not candidates:
                time.sleep(5)  # distribution and the push have not brought work yet
                continue
            annotator_id, project_id = self.rng.choice(candidates)
            try:
                self.sitting(annotator_id, project_id)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                logger.warning("sitting failed: %s", exc)
                time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seeds.demo_crowd", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=120.0, help="annotations per minute, the whole crowd")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 6000:
        parser.error("--rate: more than 0, at most 6000")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _django()
    Crowd(rate=args.rate).run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
