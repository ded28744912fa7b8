% def describe(name, hint=True):
%   ids = ([name + '-hint'] if hint else []) + ([name + '-error'] if name in e else [])
%   return ' '.join(ids)
% end
<form method="post" action="{{url['pledge']}}" accept-charset="utf-8" id="pledge">
% if not get('standalone'):
<h2 id="pledge-h">{{t('form.heading')}}</h2>
% end
<p>{{t('form.intro')}}</p>
<div class="field">
<label for="amount">{{t('form.amount')}}</label>
<div class="hint" id="amount-hint">{{t('form.amount_hint')}}</div>
% if 'amount' in e:
<div class="error" id="amount-error">{{e['amount']}}</div>
% end
<input type="text" id="amount" name="amount" value="{{v.get('amount', '')}}" inputmode="decimal" autocomplete="transaction-amount" required maxlength="{{max_length['amount']}}" aria-describedby="{{describe('amount')}}"{{!' aria-invalid="true"' if 'amount' in e else ''}}>
</div>
<fieldset class="choice" id="designation"{{!' aria-describedby="designation-error"' if 'designation' in e else ''}}>
<legend>{{t('form.designation')}}</legend>
% if 'designation' in e:
<div class="error" id="designation-error">{{e['designation']}}</div>
% end
% for gid, gname in designations:
<div><label><input type="radio" name="designation" value="{{gid}}"{{!' checked' if v.get('designation') == gid else ''}}{{!' aria-invalid="true"' if 'designation' in e else ''}}> {{gname}}</label></div>
% end
</fieldset>
<fieldset class="choice" id="method"{{!' aria-describedby="method-error"' if 'method' in e else ''}}>
<legend>{{t('form.method')}}</legend>
% if 'method' in e:
<div class="error" id="method-error">{{e['method']}}</div>
% end
% for mid, mname in methods:
<div><label><input type="radio" name="method" value="{{mid}}"{{!' checked' if v.get('method') == mid else ''}}{{!' aria-invalid="true"' if 'method' in e else ''}}> {{mname}}</label></div>
% end
</fieldset>
<fieldset>
<legend>{{t('form.about_you')}}</legend>
% for name, kind in (('pseudonym', 'input'), ('contact', 'input'), ('message', 'textarea')):
<div class="field">
<label for="{{name}}">{{t('form.' + name)}}</label>
%   hint = name != 'message'
%   if hint:
<div class="hint" id="{{name}}-hint">{{t('form.' + name + '_hint')}}</div>
%   end
%   if name in e:
<div class="error" id="{{name}}-error">{{e[name]}}</div>
%   end
%   attrs = ' aria-invalid="true"' if name in e else ''
%   described = describe(name, hint)
%   if kind == 'input':
<input type="text" id="{{name}}" name="{{name}}" value="{{v.get(name, '')}}" autocomplete="off" maxlength="{{max_length[name]}}"{{!' aria-describedby="%s"' % described if described else ''}}{{!attrs}}>
%   else:
<div><textarea id="{{name}}" name="{{name}}" rows="5" autocomplete="off" maxlength="{{max_length[name]}}"{{!' aria-describedby="%s"' % described if described else ''}}{{!attrs}}>{{v.get(name, '')}}</textarea></div>
%   end
</div>
% end
</fieldset>
<div class="hp"><label for="website">{{t('form.honeypot')}}</label> <input type="text" id="website" name="website" value="" tabindex="-1" autocomplete="off"></div>
<p>{{t('form.sealed_note')}}</p>
<div class="actions"><button type="submit">{{t('form.submit')}}</button></div>
</form>
