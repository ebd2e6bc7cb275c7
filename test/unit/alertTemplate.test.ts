import { describe, expect, it } from 'vitest';
import { ExpressionError } from '../../alerts/errors.js';
import {
  formatE,
  formatF,
  formatG,
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage,
} from '../../alerts/humanize.js';
import { parseTemplate, renderTemplate } from '../../alerts/template.js';

const data = { labels: { host: 'web-1', region: 'eu', ratio: '0.25' }, value: 95.5 };
const render = (text: string, value = data.value) => renderTemplate(parseTemplate(text), { ...data, value });

describe('templates', () => {
  it('renders labels and the value', () => {
    expect(render('{{ $labels.host }} at {{ $value }}%')).toBe('web-1 at 95.5%');
    expect(render('{{ .Labels.region }}/{{ .Value }}')).toBe('eu/95.5');
    expect(render('[{{ $labels.missing }}]')).toBe('[]');
    expect(render('{{ $labels }}')).toBe('map[host:web-1 ratio:0.25 region:eu]');
    expect(render('{{ $value }}', 1e6)).toBe('1e+06');
    expect(render('{{ $value }}', 1 / 3)).toBe('0.3333333333333333');
    expect(render('no actions')).toBe('no actions');
  });

  it('pipes into functions and calls them with arguments', () => {
    expect(render('{{ $value | humanize }}', 1234567)).toBe('1.235M');
    expect(render('{{ humanize $value }}', 0.005)).toBe('5m');
    expect(render('{{ $value | printf "%.2f" }}')).toBe('95.50');
    expect(
      render('{{ printf "%s is %.1f%% (%v, %d, %e, %g, %q)" $labels.host $value 2 3 $value $value "x" }}'),
    ).toBe('web-1 is 95.5% (2, 3, 9.550000e+01, 95.5, "x")');
    expect(render('{{ $labels.host | toUpper }} {{ toLower "ABC" }} {{ title "web server" }}')).toBe(
      'WEB-1 abc Web Server',
    );
    expect(render('{{ $labels.ratio | humanizePercentage }}')).toBe('25%');
    expect(render('{{ $value | humanizeDuration }}', 93784)).toBe('1d 2h 3m 4s');
    expect(render('{{ $value | humanize1024 }}', 2048)).toBe('2ki');
  });

  it('trims around {{- and -}} and skips comments', () => {
    expect(render('a  {{- $labels.host -}}  b{{/* note */}}')).toBe('aweb-1b');
    expect(render('{{- /* only a comment */ -}}')).toBe('');
  });

  it('renders a failing action as Prometheus does', () => {
    expect(render('x {{ $labels.host | humanize }}')).toBe(
      '<error expanding template: humanize: "web-1" is not a number>',
    );
    expect(render('{{ printf "%d %s" $value }}')).toBe('%!d(float64=95.5) %!s(MISSING)');
  });

  it('rejects what it does not support, at the offending offset', () => {
    const cases: Array<[string, string, number]> = [
      ['{{ if $value }}x{{ end }}', 'the template action "if" is not supported', 3],
      [
        'a {{ $value | nope }}',
        'function "nope" is not supported (supported: humanize, humanize1024, humanizePercentage, humanizeDuration, toUpper, toLower, title, printf)',
        14,
      ],
      ['{{ $externalLabels.env }}', '$externalLabels.env is not supported (no external labels)', 3],
      ['{{ $foo }}', 'undefined variable $foo (use $labels.<name> or $value)', 3],
      ['{{ .Foo }}', 'unknown field .Foo (use .Labels.<name> or .Value)', 3],
      ['{{ $x := 1 }}', 'variables are not supported in templates', 6],
      ['{{ humanize }}', 'humanize takes 1 argument, got 0', 3],
      ['{{ $value | humanize 1 }}', 'humanize takes 1 argument, got 2', 12],
      ['{{ $value $value }}', 'unexpected $value', 10],
      ['{{ $value | $value }}', 'expected a function after "|", got $value', 12],
      ['text {{ $value', 'unclosed action: missing "}}"', 5],
      ['{{ (humanize $value) }}', 'parentheses are not supported in templates', 3],
      ['{{ template "__subject" . }}', 'the template action "template" is not supported', 3],
      ['{{ toUpper 5 }}', 'toUpper takes string, not a number', 3],
    ];
    const got = cases.map(([text]) => {
      try {
        parseTemplate(text);
        return [text, 'parsed', -1];
      } catch (error) {
        expect(error).toBeInstanceOf(ExpressionError);
        return [text, (error as ExpressionError).message, (error as ExpressionError).offset];
      }
    });
    expect(got).toEqual(cases);
  });
});

describe('Go number formatting', () => {
  it('formats %v like Go', () => {
    expect(
      [0, -0, 100, 123456.7, 1e6, 1234567.5, 1e21, 0.0001, 0.00001234, NaN, Infinity, -Infinity].map((x) =>
        formatG(x),
      ),
    ).toEqual([
      '0',
      '-0',
      '100',
      '123456.7',
      '1e+06',
      '1.2345675e+06',
      '1e+21',
      '0.0001',
      '1.234e-05',
      'NaN',
      '+Inf',
      '-Inf',
    ]);
  });

  it('formats %.4g, %f and %e with Go rounding (ties to even)', () => {
    expect([95.5, 100, 1234, 12345, 0.00012345, 37.125, 37.375].map((x) => formatG(x, 4))).toEqual([
      '95.5',
      '100',
      '1234',
      '1.234e+04',
      '0.0001234',
      '37.12',
      '37.38',
    ]);
    expect([
      formatF(0.125, 2),
      formatF(0.375, 2),
      formatF(2.5, 0),
      formatF(3.5, 0),
      formatF(-0.125, 2),
      formatF(1 / 3),
    ]).toEqual(['0.12', '0.38', '2', '4', '-0.12', '0.333333']);
    expect([formatE(8.5, 0), formatE(9.5, 0), formatE(123456), formatE(1e-7, 1)]).toEqual([
      '8e+00',
      '1e+01',
      '1.234560e+05',
      '1.0e-07',
    ]);
  });

  it('humanizes like Prometheus', () => {
    expect([0, 1, 999, 1000, 1234567, -2500, 0.5, 0.000123, NaN].map(humanize)).toEqual([
      '0',
      '1',
      '999',
      '1k',
      '1.235M',
      '-2.5k',
      '500m',
      '123u',
      'NaN',
    ]);
    expect([1, 1024, 1536, 1048576].map(humanize1024)).toEqual(['1', '1ki', '1.5ki', '1Mi']);
    expect([0.5, 0.1234, 1.5].map(humanizePercentage)).toEqual(['50%', '12.34%', '150%']);
    expect([0, 0.25, 1.5, 59, 61, 3600, 86400 + 3661, -90].map(humanizeDuration)).toEqual([
      '0s',
      '250ms',
      '1.5s',
      '59s',
      '1m 1s',
      '1h 0m 0s',
      '1d 1h 1m 1s',
      '-1m 30s',
    ]);
  });
});
