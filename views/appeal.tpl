% rebase('layout.tpl', title=t('site.title'))
<h1>{{t('site.title')}}</h1>
<p class="call">{{t('appeal.call')}}</p>
% if get('w'):
% include('widget.tpl')
% end
<h2>{{t('appeal.heading')}}</h2>
% for paragraph in paragraphs:
<p>\\
%   for text, href in paragraph:
%     if href:
<a href="{{href}}">{{text}}</a>\\
%     else:
{{text}}\\
%     end
%   end
</p>
% end
% include('form.tpl', v=defaults, e={})
