"""The bank's CMDB as the simulated platform serves it: business systems and what belongs to them.

``GET /cmdb/api/v1/business-systems`` answers, like an internal CMDB's REST API, an envelope
``{"code": 0, "msg": "success", "total": N, "data": [record, ...]}`` with the CMDB's own field names
(not the console's: a client maps them, see ``[cmdb] fields`` in the console's config)::

    sys_code            "BS1001"                      the system's id in the CMDB
    sys_name            "信用评分卡"                   its name (Chinese, as the bank writes it)
    sys_alias           "risk-scorecard"              an English alias
    level               1..4                          criticality tier (1: most critical)
    dept_name           "风险管理部"                   the owning department
    dept_code           "risk"
    sys_owner           "lihua"                       the owner (a platform user)
    duty_contact        "lihua / 138-1234-5678"       who is on call
    k8s_namespaces      ["ns-risk-scorecard"]         explicit namespaces (or patterns)
    ns_segments         ["risk"] / ["antifraud-txn"]  parts of ns-<department>-<app>
    k8s_labels          ["model=ews-lstm"]            key=value labels on the workloads
    seldon_deployments  ["txn-gnn-svc-*"]             SeldonDeployment name patterns
    hosts               ["gpua100-0001", "10.107.0.2"]  node hostnames or IPs
    status              "online"
    updated_at          RFC 3339

What is there, deterministic per world (scale and seed):
- one system per application group (tenant namespace ``ns-<dept>-<app>``), owned by its namespace
  (even positions) or by its exact ``<dept>-<app>`` segment (odd positions);
- per department with tenants: a department-wide system (segment ``<dept>``), a model-serving system
  (two Seldon deployment name patterns of the department's models) and a model system owned by a label
  (``model=<name>``, as the department's training jobs and deployments are labelled);
- the platform itself (node hostnames ``mlss-platform-*`` and the ``prophecis`` namespace) and a GPU
  pool (the first GPU nodes: one by hostname, one by IP).

No credentials are needed (an internal CMDB read API on the office network); a request that sends an
``Authorization: Bearer`` header must send one of the simulator's tokens, else 401. The fault
``cmdb_error`` (``POST /sim/admin/faults {"cmdb_error": 500}``; 0 turns it off) makes the endpoint answer
that HTTP status instead of its list.

This module reads the world; it imports nothing of the console (DESIGN section 2)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from .clock import rfc3339
from .objects import PLATFORM_NS
from .world import DEPARTMENTS, USERS

PATH = "/cmdb/api/v1/business-systems"
#: the console's field -> this CMDB's (what `--write-config` puts in the console's [cmdb.fields])
FIELDS = {"id": "sys_code", "name": "sys_name", "tier": "level", "department": "dept_name", "owner": "sys_owner",
          "oncall": "duty_contact", "namespaces": "k8s_namespaces", "segments": "ns_segments", "labels": "k8s_labels",
          "deployments": "seldon_deployments", "nodes": "hosts"}

DEPT_NAMES = {"risk": "风险管理部", "antifraud": "反欺诈中心", "credit": "信贷业务部", "marketing": "零售营销部",
              "wealth": "财富管理部", "ops": "科技运营部"}

# (department, application) -> the system's Chinese name
APP_NAMES = {
    "risk": {"scorecard": "信用评分卡", "limit": "授信额度管理", "earlywarn": "风险预警", "stress": "压力测试",
             "pd": "违约概率模型", "lgd": "违约损失率模型", "collateral": "押品估值", "rating": "内部评级",
             "ifrs": "IFRS9减值计量", "kyc": "客户尽职调查"},
    "antifraud": {"txn": "反欺诈交易评分", "device": "设备指纹", "graph": "关联图谱反欺诈", "appfraud": "申请反欺诈",
                  "moneylaund": "反洗钱可疑交易", "account": "账户安全", "card": "银行卡盗刷识别",
                  "phish": "钓鱼诈骗拦截", "mule": "涉诈账户识别", "voice": "语音反诈"},
    "credit": {"approval": "信贷审批", "collect": "智能催收", "pricing": "贷款定价", "micro": "微粒贷",
               "sme": "小微企业贷", "mortgage": "按揭贷款", "autoloan": "汽车金融", "overdraft": "透支管理",
               "bnpl": "先享后付", "limitmgr": "额度管理"},
    "marketing": {"reco": "智能推荐", "churn": "客户流失预测", "uplift": "营销增益模型", "nba": "次优行动推荐",
                  "lookalike": "相似人群扩展", "campaign": "营销活动管理", "ltv": "客户终身价值", "coupon": "权益券发放",
                  "push": "消息推送", "segment": "客户分群"},
    "wealth": {"advisor": "智能投顾", "fund": "基金优选", "portfolio": "组合管理", "insure": "保险推荐",
               "robo": "机器人理财", "risktol": "风险测评", "nav": "净值预测", "fx": "外汇交易",
               "deposit": "存款产品", "pension": "养老金规划"},
    "ops": {"aiops": "智能运维", "capacity": "容量规划", "logmine": "日志挖掘", "ticket": "工单分派",
            "chatbot": "智能客服", "ocr": "票据识别", "asr": "语音识别", "nlp": "自然语言处理平台",
            "forecast": "业务量预测", "anomaly": "异常检测"},
}
# department -> (serving system name, alias, two models served), (label system name, alias, model)
DEPT_SYSTEMS = {
    "risk": (("信用风险模型服务", "risk-model-serving", ("scorecard-lr", "pd-gbdt")),
             ("贷后预警模型", "risk-ews-model", "ews-lstm")),
    "antifraud": (("反欺诈实时评分服务", "antifraud-realtime-scoring", ("txn-gnn", "fraud-xgb")),
                  ("反洗钱智能监测", "aml-monitoring", "aml-transformer")),
    "credit": (("信贷审批模型服务", "credit-model-serving", ("approval-gbdt", "pricing-dnn")),
               ("催收策略模型", "collection-strategy", "collect-rl")),
    "marketing": (("智能推荐在线服务", "reco-serving", ("reco-dssm", "nba-bandit")),
                  ("流失挽留模型", "churn-retention", "churn-xgb")),
    "wealth": (("智能投顾模型服务", "advisor-serving", ("advisor-bert", "risktol-lr")),
               ("基金择时模型", "fund-timing", "fund-lstm")),
    "ops": (("智能运维模型服务", "aiops-serving", ("aiops-iforest", "logbert")),
            ("票据OCR识别模型", "ocr-model", "ocr-crnn")),
}
# criticality by department: the tiers its application systems are drawn from
TIERS = {"risk": (1, 1, 2), "antifraud": (1, 1, 2), "credit": (1, 2, 3), "marketing": (3, 3, 4),
         "wealth": (2, 2, 3), "ops": (3, 4, 4)}
_PHASES = "二三四五六七八九十"
_DIGITS = re.compile(r"^(.*?)(\d+)$")


def _app_name(dept: str, app: str) -> str:
    m = _DIGITS.match(app)
    base, n = (m.group(1), int(m.group(2))) if m else (app, 1)
    name = APP_NAMES.get(dept, {}).get(base, base)
    return name if n <= 1 else f"{name}({_PHASES[(n - 2) % len(_PHASES)]}期)"


def _contact(user: str, rng: random.Random) -> str:
    return f"{user} / 1{rng.choice('3589')}{rng.randint(0, 9)}-{rng.randint(0, 9999):04d}-{rng.randint(0, 9999):04d}"


class Cmdb:
    """The CMDB of a built world (``sim.world``, ``sim.engine``): records made once, served as JSON."""

    def __init__(self, world: Any, engine: Any, seed: int) -> None:
        self.world, self.engine, self.seed = world, engine, seed
        self._updated = rfc3339(engine.clock.now() - 86400 * 3)  # the CMDB was last edited three days ago
        self._records: list[dict] | None = None
        self._body: bytes | None = None

    def records(self) -> list[dict]:
        if self._records is None:
            self._records = self._build()
        return self._records

    def body(self) -> bytes:
        """The answer to a GET: the envelope around every record (UTF-8 JSON, Chinese unescaped)."""
        if self._body is None:
            recs = self.records()
            self._body = json.dumps({"code": 0, "msg": "success", "total": len(recs), "data": recs},
                                    ensure_ascii=False, separators=(",", ":")).encode()
        return self._body

    def _build(self) -> list[dict]:
        rng = random.Random(f"cmdb:{self.seed}")
        updated = self._updated
        out: list[dict] = []

        def add(code: str, name: str, alias: str, level: int, dept: str, owner: str, **own: list[str]) -> None:
            out.append({"sys_code": code, "sys_name": name, "sys_alias": alias, "level": level,
                        "dept_name": DEPT_NAMES.get(dept, "科技平台部"), "dept_code": dept, "sys_owner": owner,
                        "duty_contact": _contact(owner, rng),
                        "k8s_namespaces": own.get("namespaces", []), "ns_segments": own.get("segments", []),
                        "k8s_labels": own.get("labels", []), "seldon_deployments": own.get("deployments", []),
                        "hosts": own.get("hosts", []), "status": "online", "updated_at": updated})

        tenants = list(self.world.tenants)
        for i, t in enumerate(tenants):  # one per application group
            own = {"namespaces": [t.name]} if i % 2 == 0 else {"segments": [f"{t.department}-{t.app}"]}
            add(f"BS{1001 + i}", _app_name(t.department, t.app), f"{t.department}-{t.app}",
                rng.choice(TIERS.get(t.department, (3,))), t.department, t.users[0], **own)
        depts = [d for d in DEPARTMENTS if any(t.department == d for t in tenants)]
        for d in depts:
            k = list(DEPARTMENTS).index(d)
            users = sorted({u for t in tenants if t.department == d for u in t.users})
            (serving, serving_alias, models), (labelled, label_alias, model) = DEPT_SYSTEMS[d]
            add(f"BS{2001 + k}", f"{DEPT_NAMES[d]}机器学习租户", f"{d}-ml-tenants", 3, d, rng.choice(users),
                segments=[d])
            add(f"BS{3001 + k}", serving, serving_alias, min(TIERS[d]), d, rng.choice(users),
                deployments=[f"{m}-svc-*" for m in models])
            add(f"BS{4001 + k}", labelled, label_alias, max(2, min(TIERS[d])), d, rng.choice(users),
                labels=[f"model={model}"])
        nodes = sorted(self.engine.nodes.values(), key=lambda n: n.name)
        platform = [n.name for n in nodes if not n.gpus]
        add("BS9001", "MLSS机器学习平台", "prophecis-platform", 2, "platform", rng.choice(USERS),
            namespaces=[PLATFORM_NS], hosts=platform)
        gpu = [n for n in nodes if n.gpus][:2]
        if gpu:
            add("BS9002", "GPU训练资源池", "gpu-pool", 2, "platform", rng.choice(USERS),
                hosts=[gpu[0].name] + [n.ip for n in gpu[1:]])
        return out
