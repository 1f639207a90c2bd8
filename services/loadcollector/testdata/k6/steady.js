// A short steady run for regression fixtures: the same test against
// loadtarget with different service times (-delay).
import http from 'k6/http';

export const options = {
  vus: 2,
  duration: '4s',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  thresholds: { http_req_duration: ['p(95)<100'] },
};

export default function () {
  http.get(`${__ENV.TARGET}/work`);
}
