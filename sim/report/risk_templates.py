"""The pages of a risk study's report, as Jinja templates (rendered by ``risk``).

They use the report's own page (``base.html``) and macros (``_macros.md``,
``_macros.html``), so a risk report looks like every other report: the decision first,
then the findings, the figures, the samples that failed, and the assumptions.
"""

RISK_MD = """{% import "_macros.md" as m %}
# {{ name | md }}: launch review by risk

Built by sim-report {{ version | md }} from the risk study {{ title | md }}.

{{ m.decision(launch) }}

## Findings

{{ m.findings(findings) }}
## Figures

{% if figures %}
{{ m.figures(figures) }}
{% else %}
No sample has been judged yet, so there is no figure.

{% endif %}
## Samples that failed

{% if failed.rows %}
{% if listed < n_failed %}The first {{ listed }} of {{ n_failed }}; risk.json lists every sample.

{% endif %}
{{ m.table(failed) }}
Rerun one with `python -m sim` and the study's scenario, its inputs and its seed.

{% else %}
None.

{% endif %}
## Assumptions and reproducibility

The stated beliefs about the inputs:

{{ m.table(inputs) }}
{{ judging | md }} Design: {{ design | md }}

Base scenario: {{ base | md }}.

### Reproduce

{{ m.commands(commands) }}

---
Built by sim-report from risk.json.
"""

RISK_HTML = """{% extends "base.html" %}
{% import "_macros.html" as m %}
{% block title %}{{ name }}: launch review by risk{% endblock %}
{% block body %}
<header>
<h1>{{ name }}: launch review by risk</h1>
<p class="subtitle">Built by sim-report {{ version }} from the risk study {{ title }}.</p>
</header>

{{ m.decision(launch) }}

<section id="findings">
<h2>Findings</h2>
{{ m.findings(findings) }}
</section>

<section id="figures">
<h2>Figures</h2>
{% if figures %}
{{ m.figures(figures) }}
{% else %}
<p>No sample has been judged yet, so there is no figure.</p>
{% endif %}
</section>

<section id="failed">
<h2>Samples that failed</h2>
{% if failed.rows %}
{% if listed < n_failed %}
<p class="note">The first {{ listed }} of {{ n_failed }}; risk.json lists every sample.</p>
{% endif %}
{{ m.table(failed) }}
{% else %}
<p>None.</p>
{% endif %}
</section>

<section id="assumptions">
<h2>Assumptions and reproducibility</h2>
<p>The stated beliefs about the inputs:</p>
{{ m.table(inputs) }}
<p>{{ judging }} Design: {{ design }}</p>
<p>Base scenario: <code>{{ base }}</code>.</p>
<h3>Reproduce</h3>
{{ m.commands(commands) }}
</section>
<footer>Built by sim-report from risk.json.</footer>
{% endblock %}
"""

__all__ = ["RISK_HTML", "RISK_MD"]
