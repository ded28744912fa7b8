% rebase('layout.tpl', title=get('notice_title') or ((t('errors.title_prefix') if get('notice') else '') + t('check.title')))
<h1>{{t('check.title')}}</h1>
% if get('notice'):
<div class="notice" role="alert">
%   if get('notice_title'):
<h2>{{notice_title}}</h2>
%   end
<p>{{notice}}</p>
</div>
% end
<p>{{t('check.intro')}}</p>
<dl class="facts">
<dt>{{t('check.amount')}}</dt><dd>{{t.money(pledge.amount, currency)}}</dd>
<dt>{{t('check.designation')}}</dt><dd>{{designation}}</dd>
<dt>{{t('check.method')}}</dt><dd>{{method}}</dd>
% for name in ('pseudonym', 'contact', 'message'):
<dt>{{t('check.' + name)}}</dt><dd>{{getattr(pledge, name) or t('check.empty')}}</dd>
% end
</dl>
<form method="post" action="{{url['confirm']}}" accept-charset="utf-8">
% for name in fields:
<input type="hidden" name="{{name}}" value="{{v.get(name, '')}}">
% end
<input type="hidden" name="token" value="{{token}}">
<div class="actions">
<button type="submit">{{t('check.confirm')}}</button>
<button type="submit" class="secondary" formaction="{{url['pledge']}}" name="edit" value="1">{{t('check.edit')}}</button>
</div>
</form>
