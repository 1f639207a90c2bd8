package alerter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Webhook URLs come from the policy, which a pull request can edit, so the
// alerter must not become a way to reach the machine's own network: by
// default it connects only to public addresses. The check runs on the
// address actually dialled (after DNS), so a name that resolves to a private
// address later (DNS rebinding) is refused too.

// parseEgressAllow reads the prefixes (CIDR or single addresses) that may be
// reached although private, loopback or link-local.
func parseEgressAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: want a CIDR prefix (10.0.0.0/8) or an address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// internalAddr says whether a is not a public unicast address.
func internalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(a) // carrier-grade NAT, cloud metadata ranges
}

// errEgress marks a refused destination: permanent, no retry helps.
var errEgress = errors.New("destination not allowed")

// egressClient is the alerter's HTTP client: it dials only public addresses
// or allowed prefixes, follows no redirect to another host, and times out.
func egressClient(allow []netip.Prefix, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", errEgress, address)
		}
		if !internalAddr(ap.Addr()) {
			return nil
		}
		for _, p := range allow {
			if p.Contains(ap.Addr().Unmap()) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s is internal (loopback, private or link-local); list it in alerter.egress-allow to permit it", errEgress, ap.Addr())
	}}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // a proxy would dial for us, past the check
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: transport, CheckRedirect: sameHostRedirect}
}

// sameHostRedirect follows a redirect only within the receiver's host.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return fmt.Errorf("%w: more than 3 redirects", errEgress)
	}
	if req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("%w: redirect to another host (%s)", errEgress, req.URL.Host)
	}
	return nil
}
