#!/usr/bin/env bash
# Downloads the public traces this project reads (for users with internet) into DIR (default
# traces/public), checks their SHA-256 where it is known, and writes the inter-region tables in the
# three-column form lib/trace reads. Usage: traces/fetch.sh [DIR]
#   azure_llm_conv_2023.csv, azure_llm_code_2023.csv  Azure Public Dataset (Splitwise, ISCA 2024), CC-BY-4.0
#   burstgpt_v1.csv                                   BurstGPT (Wang et al., KDD 2025), CC-BY-4.0
#   inter_region_throughput.csv, inter_region_rtt.csv Skyplane (Jain et al., NSDI 2023), Apache-2.0
# A file whose checksum is not recorded below is kept and its SHA-256 printed, marked "unverified".
set -euo pipefail
dir=${1:-traces/public}
mkdir -p "$dir"
command -v curl >/dev/null || { echo "fetch.sh: needs curl (apt-get install curl)" >&2; exit 2; }

# name | URL | SHA-256 of the file as published ("-": not recorded yet)
manifest=(
  "azure_llm_conv_2023.csv|https://raw.githubusercontent.com/Azure/AzurePublicDataset/master/data/AzureLLMInferenceTrace_conv.csv|2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8"
  "azure_llm_code_2023.csv|https://raw.githubusercontent.com/Azure/AzurePublicDataset/master/data/AzureLLMInferenceTrace_code.csv|-"
  "burstgpt_v1.csv|https://github.com/HPMLL/BurstGPT/releases/download/v1.1/BurstGPT_1.csv|-"
  "skyplane_throughput.csv|https://raw.githubusercontent.com/skyplane-project/skyplane/main/skyplane/data/throughput.csv|-"
  "skyplane_latency.csv|https://raw.githubusercontent.com/skyplane-project/skyplane/main/profiles/latency.csv|-"
)

status=0
for entry in "${manifest[@]}"; do
  IFS='|' read -r name url sum <<<"$entry"
  out="$dir/$name"
  if [ ! -s "$out" ]; then
    echo "fetching $name"
    if ! curl -fsSL --retry 3 -o "$out.part" "$url"; then
      echo "fetch.sh: could not download $url" >&2
      rm -f "$out.part"
      status=1
      continue
    fi
    mv "$out.part" "$out"
  fi
  got=$(sha256sum "$out" | cut -d' ' -f1)
  if [ "$sum" = "-" ]; then
    echo "$name: sha256 $got (unverified: no checksum recorded)"
  elif [ "$got" = "$sum" ]; then
    echo "$name: sha256 verified"
  else
    echo "fetch.sh: $name: sha256 $got, expected $sum: the download is not the published file; deleted" >&2
    rm -f "$out"
    status=1
  fi
done

# The Skyplane tables in the form lib/trace reads: src_region,dst_region,throughput_gbps (the received
# throughput, bit/s -> Gbit/s) and src_region,dst_region,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev.
if [ -s "$dir/skyplane_throughput.csv" ] && [ -s "$dir/skyplane_latency.csv" ]; then
  python3 - "$dir" <<'PY'
import csv, sys
d = sys.argv[1]
def table(path):
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames or [], list(r)
cols, rows = table(f"{d}/skyplane_throughput.csv")
tcol = next((c for c in cols if "throughput" in c and "received" in c), None) or next((c for c in cols if "throughput" in c), None)
if not {"src_region", "dst_region"} <= set(cols) or tcol is None:
    sys.exit(f"fetch.sh: skyplane_throughput.csv has columns {cols}; expected src_region, dst_region and a throughput column")
with open(f"{d}/inter_region_throughput.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["src_region", "dst_region", "throughput_gbps"])
    for row in rows:
        w.writerow([row["src_region"], row["dst_region"], float(row[tcol]) / 1e9])
cols, rows = table(f"{d}/skyplane_latency.csv")
need = ["src_region", "dst_region"]
stats = [c for c in cols if c not in need]
if not set(need) <= set(cols):
    sys.exit(f"fetch.sh: skyplane_latency.csv has columns {cols}; expected src_region, dst_region and RTT columns")
with open(f"{d}/inter_region_rtt.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(need + [c if c.startswith("rtt_ms") else f"rtt_ms_{c}" for c in stats])
    for row in rows:
        w.writerow([row[c] for c in need + stats])
print(f"wrote {d}/inter_region_throughput.csv and {d}/inter_region_rtt.csv")
PY
fi
exit $status
