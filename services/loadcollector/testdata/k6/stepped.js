// Closed-model stepped load against loadtarget (-workers 4 -delay 40ms),
// which saturates at 4 / 40 ms = 100 requests/s: one VU adds ~25 req/s until
// four VUs, after which throughput stays flat and latency grows.
import http from 'k6/http';

const BASE = __ENV.TARGET;
const HOLD = '5s';
const stages = [];
for (const vus of [1, 2, 3, 4, 5, 6, 8]) {
  stages.push({ duration: '0s', target: vus }, { duration: HOLD, target: vus });
}

export const options = {
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  scenarios: {
    steps: { executor: 'ramping-vus', startVUs: 1, stages, gracefulRampDown: '0s' },
  },
  thresholds: {
    http_req_duration: ['p(95)<60'],
  },
};

export default function () {
  http.get(`${BASE}/work`);
}
