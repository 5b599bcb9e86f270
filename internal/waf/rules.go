package waf

import (
	"fmt"
	"strings"
)

// Palisade's additions to the OWASP CRS, part of every profile (rule IDs
// 99100-99199, tag "palisade"). They close gaps measured with gotestwaf
// (BENCHMARKS.md) and follow Alibaba Cloud WAF 3.0's core protection,
// which decodes Base64 before matching:
//
//   - Base64 decoding: a value that is entirely Base64 (16+ characters of
//     the standard or URL-safe alphabet) is decoded and checked with
//     libinjection (SQL injection, XSS) and Palisade's attack patterns.
//     The CRS never decodes Base64 in arguments, so any attack wrapped in
//     it passed at every paranoia level.
//   - Attack patterns the CRS misses at paranoia level 1, matched in plain
//     values too: XML external entities, server-side includes, template
//     expressions, MongoDB operators, LDAP filter injection, mail command
//     injection, shell command chains and obfuscated JavaScript calls.
//
// Each match adds the critical anomaly score (5) at paranoia level 1, so a
// match alone reaches the default threshold.
//
// palisadeExclusions are CRS rules removed from every profile: each
// matched ordinary English text in gotestwaf's false-positive set while
// every attack it caught there was also caught by other rules.
func palisadeExclusions() []int {
	return []int{
		932250, // direct Unix command words ("ls 300 lexus", "zsh is the best!")
		941210, // "javascript:" obfuscation, matches prose such as "JavaScript: Basics"
		942190, // "union ... select" in prose ("union was a great select")
	}
}

// palisadePatterns are attack patterns beyond the CRS at paranoia level 1.
// Go regexp (RE2) syntax; (?s)(?m) are set by the engine.
func palisadePatterns() []string {
	return append(xmlEntityPatterns(),
		// Server-side includes.
		`(?i)<!--\s*#\s*(?:exec|include|echo|config|printenv|fsize|flastmod)\b`,
		// Template expressions that compute or call (SSTI).
		`\{\{\s*[\w.'"]+\s*[-+*/%]\s*[\w.'"]+\s*\}\}`,
		`[$#]\{\s*[\w.'"]+\s*[-+*/%(]`,
		`(?i)<#assign\b|freemarker\.template|\?new\s*\(\)`,
		// MongoDB operators and shell calls (NoSQL injection).
		`\$(?:where|ne|eq|gt|gte|lt|lte|regex|nin|in|or|and|nor|not|exists|expr|elemMatch)\b\s*["']?\s*:`,
		`\bdb\.\w+\.(?:insert|find|update|remove|drop|delete|aggregate)\w*\s*\(`,
		`\bdo\s*\{[^}]*\}\s*while\s*\(`,
		// LDAP filter injection.
		`\(\s*[&|!]\s*\(`,
		`\(\s*(?i:objectclass)\s*=\s*\*\s*\)`,
		`\w:(?:\d+\.)+\d+:=`,
		// Mail (SMTP/IMAP) command injection after a line break.
		`[\r\n]\s*(?:RCPT TO|MAIL FROM|QUIT|HELO|EHLO|[A-Z]\d{1,5} (?:CAPABILITY|FETCH|LOGIN|SELECT|STORE|COPY|LIST|LOGOUT))\b`,
		// Path traversal and Windows admin shares.
		`(?:^|[\\/])\.\.[\\/]`,
		`\\[a-zA-Z]\$\\`,
		// Shell command chains.
		// (common words such as cat or id only with an argument or operator).
		`(?:[;|&`+"`"+`]|\$\()\s*(?:wget|curl|getent|nc|ncat|bash|sh|zsh|uname|whoami|nslookup|set /a|chmod|python\d?|perl|php)\b`,
		`(?:[;|&`+"`"+`]|\$\()\s*(?:cat|ls|id|echo|ping|rm|dig)(?:\s+[-/$.~'"\\]|\s*(?:[;|&`+"`"+`)]|$))`,
		`\$IFS\b|\$\{IFS\}`,
		// JavaScript calls in obfuscated forms.
		`\b(?:alert|confirm|prompt|eval)\s*(?:\?\.\s*\(|\.\s*(?:call|apply|bind)\s*\()`,
	)
}

// xmlEntityPatterns are XML external entities and DTDs pulling remote
// content: in rule 99101 (arguments, headers, cookies) and rule 99102
// (raw XML bodies, see RawXMLEntityRule).
func xmlEntityPatterns() []string {
	return []string{
		`(?i)<!(?:DOCTYPE|ENTITY)\b[^>]*\b(?:SYSTEM|PUBLIC)\b`,
		`(?i)<!ENTITY\s+%`,
	}
}

// palisadeRules is the SecLang of Palisade's additions.
func palisadeRules() string {
	meta := func(id int, msg, logdata string) string {
		return fmt.Sprintf("id:%d,phase:2,block,capture,t:none,msg:'%s',logdata:'%s',tag:'palisade',tag:'paranoia-level/1',ver:'palisade',severity:'CRITICAL',"+
			"setvar:'tx.inbound_anomaly_score_pl1=+%%{tx.critical_anomaly_score}'", id, msg, logdata)
	}
	// SecLang quotes the operator with ": keep the regex free of them.
	pattern := strings.ReplaceAll(palisadePattern(), `"`, `\x22`)
	var b strings.Builder
	fmt.Fprintf(&b, "SecRule REQUEST_COOKIES|ARGS_NAMES|ARGS|XML:/*|REQUEST_FILENAME|REQUEST_HEADERS|!REQUEST_HEADERS:Authorization|!REQUEST_HEADERS:Cookie \"@%s\" \"%s\"\n",
		base64OperatorName, meta(99100, "Attack in a Base64-encoded value", "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}"))
	fmt.Fprintf(&b, "SecRule REQUEST_COOKIES|ARGS_NAMES|ARGS|XML:/*|REQUEST_FILENAME|REQUEST_HEADERS:User-Agent \"@rx %s\" \"%s,t:utf8toUnicode,t:urlDecodeUni,t:htmlEntityDecode\"\n",
		pattern, meta(99101, "Attack pattern", "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}"))
	return b.String()
}

// palisadePattern is palisadePatterns as one expression (each in its own
// group, so that a flag such as (?i) stays inside its pattern).
func palisadePattern() string {
	pats := palisadePatterns()
	parts := make([]string, len(pats))
	for i, p := range pats {
		parts[i] = "(?:" + p + ")"
	}
	return strings.Join(parts, "|")
}
