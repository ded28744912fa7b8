% rebase('layout.tpl', title=t('privacy.title'))
<h1>{{t('privacy.title')}}</h1>
<p>{{t('privacy.intro')}}</p>
% for section, count in (('stored', 3), ('not_stored', 4), ('check', 3), ('advice', 4)):
<h2>{{t('privacy.%s_heading' % section)}}</h2>
<ul>
%   for i in range(1, count + 1):
<li>{{t('privacy.%s_%d' % (section, i))}}</li>
%   end
</ul>
% end
