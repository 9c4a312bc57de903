// Statistical tests and distances used by accuracy, shift and bias: each a
// pure function of counts, with the definition it follows named beside it.

package report

import "math"

// mcnemarExact is the exact two-sided McNemar p-value of b and c discordant
// pairs: under the null each discordant pair is b or c with probability
// 1/2, so p = min(1, 2·P(X <= min(b, c))) for X ~ Binomial(b+c, 1/2)
// (McNemar 1947; the exact form as in Fagerland, Lydersen & Laake 2013).
func mcnemarExact(b, c int64) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	// Sum the binomial terms in log space: n may be in the millions.
	lnHalfN := float64(n) * math.Log(0.5)
	lgN, _ := math.Lgamma(float64(n) + 1)
	var sum float64
	for i := int64(0); i <= k; i++ {
		lgI, _ := math.Lgamma(float64(i) + 1)
		lgR, _ := math.Lgamma(float64(n-i) + 1)
		sum += math.Exp(lgN - lgI - lgR + lnHalfN)
	}
	return math.Min(1, 2*sum)
}

// pairedDiffCI is the 95% interval of the difference of two paired
// proportions (c − b)/n, where b counts pairs right on the first side only
// and c on the second only: the Wald interval after adding 1/2 to each of
// the four cells (Agresti & Min 2005, "Simple improved confidence intervals
// for comparing matched proportions"), clipped to [−1, 1].
func pairedDiffCI(b, c, n int64) (lo, hi float64) {
	if n <= 0 {
		return math.NaN(), math.NaN()
	}
	bb, cc, nn := float64(b)+0.5, float64(c)+0.5, float64(n)+2
	d := (cc - bb) / nn
	se := math.Sqrt((bb+cc)-(cc-bb)*(cc-bb)/nn) / nn
	return math.Max(-1, d-z95*se), math.Min(1, d+z95*se)
}

// chiSquareHomogeneity is Pearson's chi-square test of homogeneity of two
// rows of counts over the same categories (a 2×k contingency table):
// X² = Σ (O−E)²/E with E the row total times the column share, and k−1
// degrees of freedom (columns empty on both rows are dropped). The p-value
// is the chi-square survival function at X².
func chiSquareHomogeneity(a, b []int64) (stat float64, df int, p float64) {
	var na, nb float64
	for i := range a {
		na += float64(a[i])
		nb += float64(b[i])
	}
	if na == 0 || nb == 0 {
		return math.NaN(), 0, math.NaN()
	}
	n := na + nb
	k := 0
	for i := range a {
		col := float64(a[i] + b[i])
		if col == 0 {
			continue
		}
		k++
		ea, eb := na*col/n, nb*col/n
		da, db := float64(a[i])-ea, float64(b[i])-eb
		stat += da*da/ea + db*db/eb
	}
	df = k - 1
	if df < 1 {
		return 0, 0, 1
	}
	return stat, df, chiSquareSF(stat, float64(df))
}

// chiSquareSF is P(X > x) for X chi-square with df degrees of freedom: the
// regularized upper incomplete gamma function Q(df/2, x/2).
func chiSquareSF(x, df float64) float64 {
	if x <= 0 {
		return 1
	}
	return gammaQ(df/2, x/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x), by its
// series for x < a+1 and its continued fraction otherwise (Press et al.,
// Numerical Recipes, §6.2).
func gammaQ(a, x float64) float64 {
	if x < 0 || a <= 0 {
		return math.NaN()
	}
	if x == 0 {
		return 1
	}
	lga, _ := math.Lgamma(a)
	if x < a+1 {
		sum, del, ap := 1/a, 1/a, a
		for range 1000 {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return math.Max(0, 1-sum*math.Exp(-x+a*math.Log(x)-lga))
	}
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i <= 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lga) * h
}

// psiFloor replaces an empty bin's share in PSI, whose log would be
// infinite (the usual practice, e.g. Evidently's and most credit-risk
// write-ups use a small epsilon).
const psiFloor = 1e-4

// psi is the population stability index of actual counts b against
// expected counts a over the same bins: Σ (p_b − p_a)·ln(p_b / p_a), with
// shares below psiFloor raised to it (Siddiqi 2006, "Credit Risk
// Scorecards"; Yurdakul 2018).
func psi(a, b []int64) float64 {
	var na, nb float64
	for i := range a {
		na += float64(a[i])
		nb += float64(b[i])
	}
	if na == 0 || nb == 0 {
		return math.NaN()
	}
	var s float64
	for i := range a {
		pa := math.Max(float64(a[i])/na, psiFloor)
		pb := math.Max(float64(b[i])/nb, psiFloor)
		s += (pb - pa) * math.Log(pb/pa)
	}
	return s
}

// ksPValue is the asymptotic p-value of the two-sample Kolmogorov–Smirnov
// statistic d for samples of n and m: Q_KS(λ) with λ = (√ne + 0.12 +
// 0.11/√ne)·d and ne = nm/(n+m), where Q_KS(λ) = 2 Σ_{k≥1} (−1)^(k−1)
// e^(−2k²λ²) (Stephens 1970; Press et al., Numerical Recipes, §14.3).
func ksPValue(d float64, n, m int64) float64 {
	if n <= 0 || m <= 0 {
		return math.NaN()
	}
	ne := float64(n) * float64(m) / float64(n+m)
	sq := math.Sqrt(ne)
	lambda := (sq + 0.12 + 0.11/sq) * d
	return kolmogorovQ(lambda)
}

func kolmogorovQ(lambda float64) float64 {
	if lambda < 1e-3 {
		return 1
	}
	var sum, sign float64 = 0, 1
	for k := 1; k <= 100; k++ {
		t := sign * math.Exp(-2*float64(k*k)*lambda*lambda)
		sum += t
		if math.Abs(t) < 1e-12*math.Abs(sum) {
			break
		}
		sign = -sign
	}
	return math.Min(1, math.Max(0, 2*sum))
}
