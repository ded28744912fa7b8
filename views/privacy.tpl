% rebase('layout.tpl', title=t('privacy.title'))
<h1>{{t('privacy.title')}}</h1>
<p>{{t('privacy.intro')}}</p>
% for section in ('seized', 'running', 'network', 'mirror', 'bank', 'check'):
<h2>{{t('privacy.%s_heading' % section)}}</h2>
<ul>
%   for key in t.numbered('privacy.%s' % section):
<li>{{t(key)}}</li>
%   end
</ul>
%   if 'privacy.%s_you' % section in t.strings:
<p><strong>{{t('privacy.you')}}</strong> {{t('privacy.%s_you' % section)}}</p>
%   end
% end
