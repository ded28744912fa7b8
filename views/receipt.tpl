% rebase('layout.tpl', title=t('receipt.title'))
<h1>{{t('receipt.title')}}</h1>
<div class="panel">
<h2 id="ref-h">{{t('receipt.reference')}}</h2>
<p><span class="reference">{{reference}}</span></p>
<p><strong>{{t('receipt.reference_note')}}</strong></p>
<dl class="facts">
<dt>{{t('receipt.amount')}}</dt><dd>{{t.money(pledge.amount, currency)}}</dd>
<dt>{{t('receipt.designation')}}</dt><dd>{{designation}}</dd>
</dl>
</div>
<h2>{{t('receipt.how_to_pay')}}</h2>
% if method.kind == 'sepa':
<p>{{t('receipt.sepa_intro')}}</p>
<dl class="facts">
<dt>{{t('receipt.beneficiary')}}</dt><dd>{{method.beneficiary}}</dd>
<dt>{{t('receipt.iban')}}</dt><dd class="mono">{{iban}}</dd>
%   if method.bic:
<dt>{{t('receipt.bic')}}</dt><dd class="mono">{{method.bic}}</dd>
%   end
<dt>{{t('receipt.amount')}}</dt><dd>{{t.money(pledge.amount, currency)}}</dd>
<dt>{{t('receipt.remittance')}}</dt><dd class="mono">{{reference}}</dd>
</dl>
%   if qr:
<p>{{t('receipt.qr_caption')}}</p>
<img class="qr" src="{{qr}}" width="{{qr_size}}" height="{{qr_size}}" alt="{{t('receipt.qr_alt', amount=t.money(pledge.amount, currency), reference=reference)}}">
%   end
% elif method.kind == 'cash':
<p>{{t('receipt.cash_intro')}}</p>
<p class="panel mono">{{method.address}}</p>
% else:
<p>{{t('receipt.crypto_intro', label=method.label)}}</p>
<p class="panel mono">{{method.address}}</p>
% end
<p>{{t('receipt.keep')}}</p>
<p class="more"><a href="{{url['appeal']}}#pledge">{{t('receipt.again')}}</a></p>
