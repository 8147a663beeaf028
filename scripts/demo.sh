#!/usr/bin/env bash
# Set up, index the sample corpus shipped in corpora/sample, search it and verify an answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/veracity index sample
.venv/bin/veracity search sample "How long does the customer have to pay an invoice?" -k 3
.venv/bin/veracity verify sample --question "What does the Northwind agreement say about payment and termination?" \
  --answer "Here is a summary of the Northwind agreement. Customer must pay each undisputed invoice within 30 days of receipt. Customer may terminate for convenience with sixty (60) days' notice. Provider may also terminate for convenience. The agreement is governed by New York law."
