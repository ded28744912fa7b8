<section class="widget" aria-labelledby="widget-h">
<h2 id="widget-h">{{t('widget.label')}}</h2>
<p class="big">{{t('widget.percent', percent=w.percent, goal=t.money(w.goal, currency))}}</p>
<progress max="{{w.goal}}" value="{{w.bar_value}}" aria-labelledby="widget-h">{{t('widget.bar', percent=w.percent)}}</progress>
<p>{{t('widget.reached', amount=t.money(w.raised, currency))}}</p>
% if w.pledged is not None:
<p>{{t('widget.pledged', amount=t.money(w.pledged, currency))}}</p>
% end
% if get('as_of'):  # a static copy: the figures are from its build day, and no count of days goes stale
<p>{{t('widget.as_of', date=t.date(as_of))}}</p>
% end
% if w.days_left is not None:
%   if w.days_left > 0:
<p><strong>{{t.plural('widget.days_left', w.days_left)}}</strong></p>
%   elif w.days_left == 0:
<p><strong>{{t('widget.last_day')}}</strong></p>
%   else:
<p><strong>{{t('widget.ended', date=t.date(w.deadline))}}</strong></p>
%   end
% end
</section>
