// Two scenarios against loadtarget (-workers 4 -delay 10ms -fail-every 20):
// one in twenty /work requests fails, so the http_req_failed threshold fails.
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.TARGET;

export const options = {
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  scenarios: {
    browse: { executor: 'constant-vus', vus: 2, duration: '4s', exec: 'browse' },
    checkout: { executor: 'constant-vus', vus: 1, duration: '4s', exec: 'checkout' },
  },
  thresholds: {
    http_req_duration: ['p(95)<500'],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.9'],
    'http_req_duration{scenario:checkout}': ['p(99)<5'],
  },
};

export function browse() {
  const r = http.get(`${BASE}/work?page=browse`);
  check(r, { 'status is 200': (res) => res.status === 200 });
}

export function checkout() {
  const r = http.get(`${BASE}/work?page=checkout`);
  check(r, { 'status is 200': (res) => res.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_OUT]: JSON.stringify(data, null, 2) };
}
